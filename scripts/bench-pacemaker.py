#!/usr/bin/env python3
"""make bench (scripts/bench-run.sh): the benchmark's fragment of the power cut in the virtual
rack with Debian nodes, under Pacemaker + Corosync (fenced through the box) and under the agent,
from the rack reports out/rack-bench-{pacemaker,debian}-{timing}[-builtin]/report.json.

Usage: bench-pacemaker.py OUT_DIR FRAGMENT.json

Keys (docs/bench.md): pacemaker_failover_ms_p50/_max (Corosync's default timing) and
_tuned_p50/_max (token 1000 ms), agent_debian_failover_ms_p50/_max (the agent's default timing)
and _fast_p50/_max (Debian's resource scripts, as Pacemaker runs them), _fast_builtin_p50/_max
(the same group through the agent's built-in types), ratio_failover_vs_pacemaker = the agent's
fastest p50 / Pacemaker's fastest p50, and ratio_failover_vs_pacemaker_same_scripts = the same
with the agent's settings that run Debian's scripts only. A setting that restored the service in no trial gives null keys and a reason under
not_measured. Standard library only."""

import json
import os
import sys

SETTINGS = (
    ("pacemaker_failover_ms", "rack-bench-pacemaker-default"),
    ("pacemaker_failover_ms_tuned", "rack-bench-pacemaker-tuned"),
    ("agent_debian_failover_ms", "rack-bench-debian-default"),
    ("agent_debian_failover_ms_fast", "rack-bench-debian-fast"),
    ("agent_debian_failover_ms_fast_builtin", "rack-bench-debian-fast-builtin"),
)
SCRIPT_SETTINGS = ("agent_debian_failover_ms_p50", "agent_debian_failover_ms_fast_p50")


def p50(values):
    """The median as the rack's report takes its failover_ms_p50 (the upper middle of the
    sorted values), for the split below, which the report does not have."""
    return sorted(values)[len(values) // 2]


def main():
    out_dir, fragment = sys.argv[1], sys.argv[2]
    out, details, not_measured = {}, {}, {}
    for key, work in SETTINGS:
        path = os.path.join(out_dir, work, "report.json")
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            report, why = None, "no report %s: %s" % (path, e)
        # The rack's report has the failover's p50 and max over its power cuts.
        if report and report.get("failover_ms_p50") is not None:
            out[key + "_p50"], out[key + "_max"] = report["failover_ms_p50"], report["failover_ms_max"]
        else:
            why = why if report is None else "no power cut restored the service (%s)" % path
            for suffix in ("_p50", "_max"):
                out[key + suffix] = None
                not_measured[key + suffix] = why
        if report:
            cuts = [s["figures"] for s in report.get("scenarios", [])
                    if s.get("name") == "power-cut" and "restored_ms" in s.get("figures", {})]
            ms = [f["restored_ms"] for f in cuts]
            # The same split on both sides, both ends on the harness's clock: the cut to the relay's
            # off command (detection and the decision to fence), and from there to the first row
            # (the fence's confirmation, the grant, the group's start, the client's reconnect).
            offs = [f["fence_ms"] for f in cuts if "fence_ms" in f]
            after = [f["restored_ms"] - f["fence_ms"] for f in cuts if "fence_ms" in f]
            details[key] = {"trials_ms": ms, "failed_checks": report.get("failed"), "timing": report.get("timing"),
                            "to_relay_off_ms_p50": p50(offs) if offs else None,
                            "relay_off_to_first_row_ms_p50": p50(after) if after else None,
                            "pacemaker_timing": report.get("pacemaker_timing"),
                            "per_trial": [s["figures"] for s in report.get("scenarios", [])
                                          if s.get("name") == "power-cut"]}
    pcmk = [out[k] for k in ("pacemaker_failover_ms_p50", "pacemaker_failover_ms_tuned_p50") if out.get(k)]
    agent_all = [out[k + "_p50"] for k, _ in SETTINGS if k.startswith("agent_") and out.get(k + "_p50")]
    agent_scripts = [out[k] for k in SCRIPT_SETTINGS if out.get(k)]
    for key, agent in (("ratio_failover_vs_pacemaker", agent_all),
                       ("ratio_failover_vs_pacemaker_same_scripts", agent_scripts)):
        if agent and pcmk:
            out[key] = round(min(agent) / min(pcmk), 3)
        else:
            out[key] = None
            not_measured[key] = "a side has no p50 (see the other keys)"
    out["details"] = {"rack_debian_vs_pacemaker": details}
    if not_measured:
        out["not_measured"] = not_measured
    with open(fragment, "w") as f:
        json.dump(out, f)
    for k, v in out.items():
        if k not in ("details", "not_measured"):
            print("bench: %s = %s" % (k, v))


if __name__ == "__main__":
    main()
