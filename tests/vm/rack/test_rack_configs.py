#!/usr/bin/env python3
"""The virtual rack's configuration step on its own, without QEMU (run by `make test-fast`):
rack.py writes its members' configurations with the test crate's configs tool (`--write-configs`),
reads back the values its scenarios use, computes the watchdog deadline from the fence bound the
witness reports in its status, and reads the array console's state where the status has it.
Standard library only."""

import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pacemaker  # noqa: E402
import rack  # noqa: E402


class FakeRack:
    def __init__(self, nodes):
        self.nodes = nodes

    def authority(self):
        return {"nodes": self.nodes}


class RackConfigs(unittest.TestCase):
    def write(self, nodes, timing):
        rack.NODE_KIND, rack.TIMING_KIND = nodes, timing
        directory = tempfile.mkdtemp(prefix="rack-configs-")
        self.addCleanup(shutil.rmtree, directory)
        return rack.write_configs(directory)

    def test_every_variant_is_written_and_its_values_read_back(self):
        for nodes in ("appliance", "debian"):
            for timing, dead_ms, margin_ms in (("default", 5000, 2000), ("fast", 1000, 500)):
                paths = self.write(nodes, timing)
                self.assertEqual([os.path.basename(p) for p in paths], ["witness.toml", "node-a.toml", "node-b.toml"])
                for path in paths:
                    with open(path) as f:
                        text = f.read()
                    self.assertIn('cluster = "rack"', text)
                    self.assertIn('member = "%s"' % os.path.basename(path)[:-5], text)
                self.assertEqual((rack.TIMING["dead_ms"], rack.MARGIN_MS), (dead_ms, margin_ms), (nodes, timing))
                self.assertEqual((rack.SELF_FENCE_MS, rack.WATCHDOG_S, rack.MAX_RESTARTS), (6000, 30, 2))
                self.assertEqual(rack.FLOATING_IP, "10.10.0.100")

    def test_the_pacemaker_rack_is_written_from_the_same_group(self):
        rack.NODE_KIND, rack.TIMING_KIND = "debian", "default"
        directory = tempfile.mkdtemp(prefix="rack-configs-")
        self.addCleanup(shutil.rmtree, directory)
        rack.write_configs(directory)
        debian_group = list(rack.GROUP)
        paths = self.write("pacemaker", "default")
        self.assertEqual([os.path.basename(p) for p in paths], ["witness.toml", "group.toml"])
        self.assertEqual(rack.GROUP, debian_group, "the CIB's group is the Debian nodes' group")
        self.assertEqual(rack.FLOATING_IP, "10.10.0.100")
        resources = pacemaker.cib_resources(rack.GROUP, "10.10.0.1", "/etc/ha-agent/fence.key", rack.NODES)
        for r in rack.GROUP:
            self.assertIn('<primitive id="%s" class="ocf" provider="heartbeat" type="%s">'
                          % (r["name"], r["agent"].split(":")[2]), resources)
            for k, v in r.get("params", {}).items():
                self.assertIn('name="%s" value="%s"' % (k, v), resources)
        self.assertEqual(resources.count('type="fence_rackha"'), 2)
        self.assertIn('name="pcmk_host_list" value="node-b"', resources)
        conf = pacemaker.corosync_conf("tuned", [("node-a", 1, "10.10.0.2"), ("node-b", 2, "10.10.0.3")])
        self.assertIn("token: 1000", conf)
        self.assertIn("two_node: 1", conf)
        self.assertNotIn("token:", pacemaker.corosync_conf("default", [("node-a", 1, "10.10.0.2")]))
        self.assertEqual(pacemaker.effective_timing("default"), (3000, 3600))
        self.assertEqual(pacemaker.effective_timing("tuned"), (1000, 1200))

    def test_crm_mon_xml_is_read(self):
        text = """<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">
  <summary><current_dc present="true" name="node-b" with_quorum="true"/></summary>
  <nodes>
    <node name="node-a" id="1" online="false" unclean="false" type="member"/>
    <node name="node-b" id="2" online="true" unclean="false" type="member"/>
  </nodes>
  <resources>
    <group id="rack-group" number_resources="3" managed="true" disabled="false">
      <resource id="pgdata" role="Started" active="true" failed="false" nodes_running_on="1"><node name="node-b" id="2" cached="true"/></resource>
      <resource id="postgresql" role="Started" active="true" failed="false" nodes_running_on="1"><node name="node-b" id="2" cached="true"/></resource>
      <resource id="service-ip" role="Stopped" active="false" failed="false" nodes_running_on="0"/>
    </group>
    <resource id="fence-node-a" role="Started" active="true" failed="false" nodes_running_on="1"><node name="node-b" id="2" cached="true"/></resource>
  </resources>
</pacemaker-result>"""
        state = pacemaker.CrmState(text)
        self.assertEqual(state.online, {"node-a": False, "node-b": True})
        self.assertEqual(state.dc, "node-b")
        group = ["pgdata", "postgresql", "service-ip"]
        self.assertIsNone(state.holder(group), "not every member runs")
        self.assertEqual(state.anywhere(group), ["node-b"])
        self.assertEqual(state.holder(group[:2]), "node-b")

    def test_the_watchdog_deadline_comes_from_the_reported_fence_bound(self):
        self.write("appliance", "default")
        fake = FakeRack([{"name": "node-a", "fence_bound_ms": 90000}, {"name": "node-b", "fence_bound_ms": 0}])
        self.assertEqual(rack.watchdog_deadline_ms(fake, "node-a"), 5000 + 500 + 90000 + 2000)
        self.assertIsNone(rack.watchdog_deadline_ms(fake, "node-b"), "no armed watchdog: no deadline")
        self.assertIsNone(rack.watchdog_deadline_ms(FakeRack([{"name": "node-a", "fence_bound_ms": None}]), "node-a"))

    def test_the_array_reading_needs_an_answering_console(self):
        drives = [{"name": "Raid Set # 000", "state": "normal"}]
        self.assertTrue(rack.array_reading({"console": {"state": "answering"}, "drives": drives}))
        self.assertFalse(rack.array_reading({"console": {"state": "lost"}, "drives": drives}))
        self.assertFalse(rack.array_reading({"console": {"state": "unknown"}, "drives": []}))
        self.assertFalse(rack.array_reading({}))


if __name__ == "__main__":
    unittest.main()
