"""The Splink model: settings from the resolve configuration, training without labels (EM),
pairwise prediction, and the match weight of each field for any pair (the waterfall)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
import splink.internals.expectation_maximisation as _em
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.comparison_creator import ComparisonCreator

from peel.resolve.config import Comparison, ResolveConfig

# Columns Splink reads from each record (everything else stays out of the model's tables).
MODEL_COLUMNS = (
    "record_id",
    "forename1",
    "surname_norm",
    "dob",
    "postcode",
    "address_norm",
    "sex",
    "pnc_id",
    "cro_number",
    "ni_number",
    "other_id",
    "phone",
    "place_of_birth",
    "system_ref",
    "forename_keys",
    "dob_block",
)

for _logger in ("splink", "splink.internals"):
    logging.getLogger(_logger).setLevel(logging.ERROR)

_populate = _em.populate_m_u_from_lookup
M_FLOOR = 1e-3


def _populate_with_floor(
    fixed: set[str], level: Any, column: str, lookup: dict[str, dict[int, Any]]
) -> None:
    """Splink 5 refuses an m probability of 0, which EM produces for a level no true match
    showed in the training pairs (an identifier that never disagreed). Zero would mean
    "impossible for the same person": data-entry errors make that false in real records, so
    m is floored at M_FLOOR (one match in a thousand), a smoothing prior, before Splink
    checks it. The floor is written on the model card."""
    row = lookup.get(column, {}).get(level.comparison_vector_value)
    if row is not None and isinstance(row.get("m_probability"), float):
        row["m_probability"] = max(row["m_probability"], M_FLOOR)
    _populate(fixed, level, column, lookup)


# Splink's maximisation step looks the function up in its module at each call.
setattr(_em, "populate_m_u_from_lookup", _populate_with_floor)  # noqa: B010


def _name(c: Comparison) -> ComparisonCreator:
    col = c.column
    exact = cll.ExactMatchLevel(col, term_frequency_adjustments=c.tf)
    levels: list[Any] = [cll.NullLevel(col), exact]
    if c.other:
        levels.append(
            cll.CustomLevel(
                f'"{col}_l" = "{c.other}_r" AND "{col}_r" = "{c.other}_l"',
                label_for_charts=f"{col} swapped with {c.other}",
            )
        )
    levels += [cll.DamerauLevenshteinLevel(col, 1), cll.JaroWinklerLevel(col, 0.92)]
    if c.other:
        # Transposed names are often also mistyped (one record's clerk keyed "ZIERHLZ LOUIS"
        # for "LOUIS ZIERHOLZ"): both crossings within one edit, after the closer levels.
        levels.append(
            cll.CustomLevel(
                f'damerau_levenshtein("{col}_l", "{c.other}_r") <= 1 AND '
                f'damerau_levenshtein("{col}_r", "{c.other}_l") <= 1',
                label_for_charts=f"{col} swapped with {c.other}, one typing error",
            )
        )
    if c.variants:
        levels.append(
            cll.ArrayIntersectLevel(c.variants, min_intersection=1).configure(
                label_for_charts=f"{col}: known nickname of one name"
            )
        )
    levels += [
        cll.CustomLevel(
            f'length("{col}_l") >= 3 AND length("{col}_r") >= 3 AND '
            f'(starts_with("{col}_l", "{col}_r") OR starts_with("{col}_r", "{col}_l"))',
            label_for_charts=f"{col}: one cut short of the other",
        ),
        cll.JaroWinklerLevel(col, 0.80),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name=col)


def _residence(c: Comparison) -> ComparisonCreator:
    addr, pc = c.column, c.other
    assert pc
    levels: list[Any] = [
        cll.CustomLevel(
            f'("{addr}_l" IS NULL OR "{addr}_r" IS NULL) AND '
            f'("{pc}_l" IS NULL OR "{pc}_r" IS NULL)',
            label_for_charts="address and postcode missing",
        ).configure(is_null_level=True),
        cll.And(cll.ExactMatchLevel(addr), cll.ExactMatchLevel(pc)),
        cll.ExactMatchLevel(addr),
        cll.And(cll.JaroWinklerLevel(addr, 0.90), cll.ExactMatchLevel(pc)),
        # A nearly equal address whose postcode differs (a mistyped or missing postcode)
        # says more than a shared postcode alone.
        cll.JaroWinklerLevel(addr, 0.90),
        cll.ExactMatchLevel(pc),
        cll.CustomLevel(
            f'left("{pc}_l", length("{pc}_l") - 2) = left("{pc}_r", length("{pc}_r") - 2)',
            label_for_charts="same postcode sector",
        ),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(levels, output_column_name="residence")


def _date_of_birth(c: Comparison) -> ComparisonCreator:
    """Dates of birth as YYYY-MM-DD text. The levels are the errors records really carry: day
    and month swapped, one character wrong, an estimated 1 January in the right year.
    Splink's DateOfBirthComparison also rewards "within a year", which is how relatives of
    one name look (father and son, people of one name and year), so it is not used."""
    d = c.column
    l_, r_ = f'"{d}_l"', f'"{d}_r"'
    levels: list[Any] = [
        cll.NullLevel(d),
        cll.ExactMatchLevel(d, term_frequency_adjustments=c.tf),
        cll.CustomLevel(
            f"substr({l_}, 1, 4) = substr({r_}, 1, 4) AND substr({l_}, 6, 2) = substr({r_}, 9, 2)"
            f" AND substr({l_}, 9, 2) = substr({r_}, 6, 2)",
            label_for_charts="day and month swapped",
        ),
    ]
    near = [
        (f"damerau_levenshtein({l_}, {r_}) <= 1", "one character different"),
        (
            f"substr({l_}, 1, 4) = substr({r_}, 1, 4) AND "
            f"(substr({l_}, 6, 5) = '01-01' OR substr({r_}, 6, 5) = '01-01')",
            "same year, one an estimated 1 January",
        ),
    ]
    if c.other:
        # A nearly equal date means more at the same address: two people of one name born
        # a digit apart are common in a city, a typing error at one address is not.
        home = " OR ".join(f'"{o}_l" = "{o}_r"' for o in c.other.split(","))
        for cond, label in near:
            levels.append(cll.CustomLevel(f"({cond}) AND ({home})", f"{label}, same address"))
    levels += [cll.CustomLevel(cond, label) for cond, label in near]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=d)


def _comparison(c: Comparison) -> ComparisonCreator:
    if c.kind == "name":
        return _name(c)
    if c.kind == "residence":
        return _residence(c)
    if c.kind == "date_of_birth":
        return _date_of_birth(c)
    comp: ComparisonCreator
    if c.kind == "postcode":
        comp = cl.PostcodeComparison(c.column)
    elif c.kind == "text":
        comp = cl.JaroWinklerAtThresholds(c.column, [0.95, 0.85])
    else:
        comp = cl.ExactMatch(c.column)
    if c.tf:
        comp = comp.configure(term_frequency_adjustments=True)
    return comp


def _rules(rules: list[list[str]]) -> list[Any]:
    return [block_on(*r) for r in rules]


def usable(config: ResolveConfig, records: pa.Table) -> tuple[list[Comparison], list[str]]:
    """The comparisons whose columns hold values in these records, and the names of those
    left out (a column no record fills cannot be trained and says nothing)."""
    kept, dropped = [], []
    for c in config.comparisons:
        filled = min(records.num_rows - records[col].null_count for col in c.columns())
        if filled >= 2:
            kept.append(c)
        else:
            dropped.append("/".join(c.columns()))
    return kept, dropped


def settings_creator(config: ResolveConfig, comparisons: list[Comparison]) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[_comparison(c) for c in comparisons],
        blocking_rules_to_generate_predictions=_rules(config.blocking),
        # Off for scoring: at a million records the blocked pairs run to tens of millions, and
        # every kept column is carried through each of them. The waterfall turns them on.
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


class PersonModel:
    """A Splink linker over one set of records, in its own DuckDB connection."""

    def __init__(
        self,
        records: pa.Table,
        config: ResolveConfig,
        *,
        threads: int,
        memory_limit: str,
        model_json: Path | None = None,
        temp_dir: Path | None = None,
        max_temp: str = "20GB",
        explain: bool = False,
    ) -> None:
        self.config = config
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET memory_limit = $m", {"m": memory_limit})
        if temp_dir is not None:
            # Spill under the data dir, bounded: DuckDB's default for an in-memory database
            # is `.tmp` in the working directory, unbounded (a 1M-record run filled a disk).
            temp_dir.mkdir(parents=True, exist_ok=True)
            self.con.execute("SET temp_directory = $t", {"t": str(temp_dir)})
            self.con.execute("SET max_temp_directory_size = $s", {"s": max_temp})
        self.con.execute("SET enable_progress_bar = false")
        self.db_api = DuckDBAPI(connection=self.con)
        # Copied into a DuckDB table: a registered Arrow table is scanned lazily and must
        # outlive every query Splink runs.
        self.comparisons, self.dropped = usable(config, records)
        # Only what the model reads: special-category columns enter only when a comparison
        # the policy allowed uses them.
        self.columns = list(MODEL_COLUMNS) + sorted(
            {c for comp in self.comparisons for c in comp.columns()} - set(MODEL_COLUMNS)
        )
        self.con.register("peel_records_arrow", records.select(self.columns))
        self.con.execute("CREATE TABLE peel_person_records AS SELECT * FROM peel_records_arrow")
        self.con.unregister("peel_records_arrow")
        self.sdf = self.db_api.register("peel_person_records")
        settings: Any = (
            self._saved(model_json, explain)
            if model_json
            else settings_creator(config, self.comparisons)
        )
        self.linker = Linker(self.sdf, settings, log_level=logging.WARNING)

    def close(self) -> None:
        self.con.close()

    @staticmethod
    def _saved(model_json: Path, explain: bool) -> dict[str, Any]:
        """A saved model; to explain pairs, with the per-comparison columns the waterfall
        reads kept."""
        settings: dict[str, Any] = json.loads(model_json.read_text(encoding="utf-8"))
        settings["retain_intermediate_calculation_columns"] = explain
        settings["retain_matching_columns"] = explain
        return settings

    def prior(self) -> float:
        """The model's probability that two random records match."""
        return float(self.linker._settings_obj._probability_two_random_records_match)

    def estimate_prior(self) -> float:
        """The probability that two random records match, from the deterministic rules."""
        self.linker.training.estimate_probability_two_random_records_match(
            _rules(self.config.deterministic_rules), recall=self.config.deterministic_recall
        )
        return self.prior()

    def train(self) -> dict[str, Any]:
        """EM without labels; returns what the card records of the training."""
        cfg = self.config
        training = self.linker.training
        training.estimate_probability_two_random_records_match(
            _rules(cfg.deterministic_rules), recall=cfg.deterministic_recall
        )
        training.estimate_u_using_random_sampling(max_pairs=cfg.u_sample_pairs, seed=cfg.seed)
        sessions = []
        for rule in cfg.training_blocking:
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True
            )
            sessions.append(rule)
        return {
            "em_sessions": sessions,
            "u_sample_pairs": cfg.u_sample_pairs,
            "probability_two_random_records_match": self.prior(),
        }

    def predict(self) -> pa.Table:
        """Scored candidate pairs at or above the configured prediction probability."""
        df = self.linker.inference.predict(
            threshold_match_probability=self.config.predict_probability
        )
        out = self.con.sql(
            f"SELECT record_id_l, record_id_r, match_weight, match_probability "
            f"FROM {df.physical_name}"
        ).to_arrow_table()
        return out

    def save(self, path: Path) -> None:
        self.linker.misc.save_model_to_json(str(path), overwrite=True)

    def waterfall(self, left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
        """The match weight each comparison adds for one pair (Splink's waterfall data),
        without the records' values."""
        from splink.internals.waterfall_chart import records_to_waterfall_data

        scored = self.linker.inference.score_pair(
            {k: left.get(k) for k in self.columns}, {k: right.get(k) for k in self.columns}
        )
        rows = scored.as_record_list()
        data = records_to_waterfall_data(rows, self.linker._settings_obj, True)
        return [
            {
                "field": d["column_name"],
                "level": d["label_for_charts"],
                "bayes_factor": d["bayes_factor"],
                "match_weight": d["log2_bayes_factor"],
            }
            for d in data
        ]


__all__ = ["MODEL_COLUMNS", "PersonModel", "settings_creator"]
