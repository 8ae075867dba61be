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
