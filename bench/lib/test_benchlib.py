#!/usr/bin/env python3
"""Tests of the output parsers in benchlib.py: python3 bench/lib/test_benchlib.py"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def changed(tool, run, text):
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write(text)
    try:
        return benchlib.changed(tool, run, f.name)
    finally:
        os.unlink(f.name)


class Changed(unittest.TestCase):
    def test_shipshape_recap_event(self):
        text = (
            '{"event":"task_start","name":"x"}\n'
            '{"event":"recap","hosts":[["h002",{"ok":22,"changed":19}],'
            '["h003",{"ok":22,"changed":2}]],"duration_ms":609,"interrupted":false}\n'
        )
        self.assertEqual(changed("shipshape", "first", text), "21")
        self.assertEqual(changed("shipshape", "first", "no recap\n"), "-")

    def test_ansible_play_recap(self):
        text = (
            "PLAY RECAP *****\n"
            "h002                       : ok=22   changed=19   unreachable=0    failed=0\n"
            "h003                       : ok=22   changed=0    unreachable=0    failed=0\n"
        )
        self.assertEqual(changed("ansible", "first", text), "19")

    def test_pyinfra_results_and_dry_run(self):
        results = (
            "--> Results:\n"
            "    Operation        Hosts   Success   Error   No Change   \n"
            "    base directory   2       2         -       -           \n"
            "    Grand total      40      38        -       2           \n"
        )
        self.assertEqual(changed("pyinfra", "first", results), "38")
        converged = results.replace("40      38        -       2", "36      -         -       36")
        self.assertEqual(changed("pyinfra", "converged", converged), "0")
        dry = (
            "--> Detected changes:\n"
            "    Operation       Change           Conditional Change   \n"
            "    base directory  -                -                    \n"
            "    motd            2 (h002, h003)   -                    \n"
            "    version file    1 (h003)         1 (h002)             \n"
            "\n"
            "    Detected changes may not include every change pyinfra will execute.\n"
        )
        self.assertEqual(changed("pyinfra", "check", dry), "3")


if __name__ == "__main__":
    unittest.main()
