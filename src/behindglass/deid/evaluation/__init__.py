"""The text de-identification evaluation harness: gold corpora in, leak-first scores out.

``load_gold("FORMAT:PATH")`` reads gold JSONL, BRAT, i2b2 2014 XML or the PhysioNet deid
layout into :class:`GoldDoc` lists; :func:`score` compares predicted spans with them and
:func:`evaluate` runs and times a detector first. The headline number is leak-free recall:
a gold span counts only when every visible character of it was caught. See
docs/deid-eval.md.
"""

from behindglass.deid.evaluation.gold import GOLD_FORMATS, detect_format, load_gold, parse_spec
from behindglass.deid.evaluation.labels import (
    I2B2_TYPES,
    PHYSIONET_KEYWORDS,
    label_from_brat,
    label_from_i2b2,
    label_from_physionet,
)
from behindglass.deid.evaluation.metrics import DEFAULT_IGNORE, Leak, leaks, score
from behindglass.deid.evaluation.model import GoldDoc, GoldSpan
from behindglass.deid.evaluation.physionet import read_physionet, write_physionet
from behindglass.deid.evaluation.report import EvalReport, LabelScores, f_beta
from behindglass.deid.evaluation.runner import evaluate
from behindglass.deid.evaluation.wilson import Z95, Proportion, wilson_interval

__all__ = ["DEFAULT_IGNORE", "GOLD_FORMATS", "I2B2_TYPES", "PHYSIONET_KEYWORDS", "Z95",
           "EvalReport", "GoldDoc", "GoldSpan", "LabelScores", "Leak", "Proportion",
           "detect_format", "evaluate", "f_beta", "label_from_brat", "label_from_i2b2",
           "label_from_physionet", "leaks", "load_gold", "parse_spec", "read_physionet",
           "score", "wilson_interval", "write_physionet"]
