"""scripts/bench-peers-report.py: medians, spreads and per-run ratios of the
lines scripts/bench-peers.sh measured (ctest bench_peers_report)."""
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "bench-peers-report.py")
spec = importlib.util.spec_from_file_location("bench_peers_report", SCRIPT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def rows(*lines):
    return report.read_rows(line + "\n" for line in lines)


class Summaries(unittest.TestCase):
    def test_median_and_spread_over_runs(self):
        self.assertEqual(report.summary([3.0, 1.0, 2.0]), (2.0, 1.0, 3.0))
        # An even count: the mean of the middle two.
        self.assertEqual(report.summary([4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0))
        # A run whose figure could not be read does not count.
        self.assertEqual(report.summary([None, 5.0]), (5.0, 5.0, 5.0))
        self.assertIsNone(report.summary([None]))

    def test_one_run_prints_the_value_alone(self):
        self.assertEqual(report.fmt_stat([0.25], report.fmt_ms), "0.250")
        self.assertEqual(report.fmt_stat([0.2, 0.4, 0.3], report.fmt_ms), "0.300 (0.200–0.400)")
        self.assertEqual(report.fmt_stat([None], report.fmt_ms), "-")
        self.assertEqual(report.fmt_stat([3800.0, 4100.0, 3900.0], report.fmt_rate),
                         "3,900 (3,800–4,100)")


class LinesTable(unittest.TestCase):
    def test_each_line_once_in_first_seen_order_with_its_runs_summarised(self):
        r = rows("1|fio QD1|8174|/s|0.060|0.130|+2|",
                 "1|sidewal open 10000/s|10000|/s|0.700|1.400|+41|0.190",
                 "2|fio QD1|8000|/s|0.070|0.140|+4|",
                 "2|sidewal open 10000/s|9999|/s|0.800|37.600|+39|0.330",
                 "3|fio QD1|8300|/s|0.065|0.120|+3|",
                 "3|sidewal open 10000/s|10000|/s|0.750|2.000|+40|0.200")
        t = report.lines_table(r)
        self.assertEqual(t[0], "Median of 3 runs (min–max when they differ).")
        body = [line for line in t if line.startswith("| fio") or line.startswith("| sidewal")]
        self.assertEqual(body, [
            "| fio QD1 | 8,174 (8,000–8,300) /s | 0.065 (0.060–0.070) | 0.130 (0.120–0.140) "
            "| - | +3 (+2–+4) |",
            "| sidewal open 10000/s | 10,000 (9,999–10,000) /s | 0.750 (0.700–0.800) "
            "| 2.000 (1.400–37.600) | 0.200 (0.190–0.330) | +40 (+39–+41) |",
        ])

    def test_a_single_run_has_no_spread_and_no_run_count(self):
        t = report.lines_table(rows("1|uds round trip|54410|/s|0.010|0.030|+0|"))
        self.assertEqual(t[0], "| system | rate | p50 ms | p99 ms | wake p99 ms | cache Δ MiB |")
        self.assertEqual(t[2], "| uds round trip | 54,410 /s | 0.010 | 0.030 | - | +0 |")


class Ratios(unittest.TestCase):
    R = rows("1|sidewal 1x1|3800|/s|0.250|0.400|0|",
             "1|Redis 1x1|4938|/s|0.190|0.300|0|",
             "1|fio sync|8174|/s|0.060|0.130|0|",
             "1|fio write|8174|/s|0.020|0.050|0|",
             "1|uds|50000|/s|0.010|0.030|0|",
             "2|sidewal 1x1|6000|/s|0.150|0.400|0|",
             "2|Redis 1x1|5000|/s|0.190|0.300|0|",
             "2|fio sync|8000|/s|0.070|0.130|0|",
             "2|fio write|8000|/s|0.020|0.050|0|",
             "2|uds|50000|/s|0.010|0.030|0|")

    def test_rate_ratios_are_taken_within_each_run_then_summarised(self):
        t = report.ratios_table(self.R, ["rate|1x1 vs Redis|sidewal 1x1|Redis 1x1"])
        # Run 1: 3800/4938 = 0.77; run 2: 6000/5000 = 1.20; median 0.985.
        self.assertEqual(t[2], "| 1x1 vs Redis | 0.98x (0.77x–1.20x) |")

    def test_p50_against_a_floor_made_of_parts(self):
        t = report.ratios_table(self.R, ["p50|1x1 p50 vs floor|sidewal 1x1|fio sync|fio write|uds"])
        # Run 1: 0.25 / 0.09 = 2.78; run 2: 0.15 / 0.10 = 1.50; median 2.14.
        self.assertEqual(t[2], "| 1x1 p50 vs floor | 2.14x (1.50x–2.78x) |")

    def test_p99_against_a_floor(self):
        t = report.ratios_table(self.R, ["p99|1x1 p99 vs fio|sidewal 1x1|fio sync"])
        # Run 1: 0.4 / 0.13 = 3.08; run 2: the same; no spread.
        self.assertEqual(t[2], "| 1x1 p99 vs fio | 3.08x |")

    def test_serial_floor_rate_against_a_peer(self):
        t = report.ratios_table(self.R, ["serial|1x1 floor vs Redis|Redis 1x1|fio sync|uds"])
        # Run 1: 1 / (1/8174 + 1/50000) = 7025.6 /s, / 4938 = 1.42;
        # run 2: 1 / (1/8000 + 1/50000) = 6896.6 /s, / 5000 = 1.38; median 1.40.
        self.assertEqual(t[2], "| 1x1 floor vs Redis | 1.40x (1.38x–1.42x) |")

    def test_a_ratio_whose_lines_were_not_measured_is_left_out(self):
        t = report.ratios_table(self.R, ["rate|vs PostgreSQL|sidewal 1x1|PostgreSQL"])
        self.assertEqual(t, ["| ratio | sidewal / peer |", "|---|---:|"])

    def test_labels_with_commas_semicolons_and_pluses_are_matched_whole(self):
        r = rows("1|sidewal closed-loop, 1 conn, pipeline 1|1000|/s|0.400|0.900|0|",
                 "1|fio QD1 (flushes/s; sync lat)|300|/s|0.150|0.300|0|",
                 "1|fio QD16 + fdatasync/16, x|300|/s|0.050|0.300|0|")
        t = report.ratios_table(r, ["p50|t|sidewal closed-loop, 1 conn, pipeline 1"
                                    "|fio QD1 (flushes/s; sync lat)|fio QD16 + fdatasync/16, x"])
        self.assertEqual(t[2], "| t | 2.00x |")

    def test_an_unknown_kind_or_a_missing_denominator_is_an_error(self):
        with self.assertRaises(ValueError):
            report.ratios_table(self.R, ["mean|x|sidewal 1x1|Redis 1x1"])
        with self.assertRaises(ValueError):
            report.ratios_table(self.R, ["rate|x|sidewal 1x1"])


if __name__ == "__main__":
    unittest.main()
