"""behindglass.omop: the OMOP CDM v5.4 store of a site and its loader.

Public API::

    from behindglass.omop import cdm_tables, create_cdm, load_omop, load_into, LoadReport

* :func:`cdm_tables` — every CDM v5.4 table spec (from the official specification);
* :func:`create_cdm` — create the empty CDM on a DuckDB connection;
* :func:`load_omop` — load an OMOP CSV folder or zip (CDM 5.3 or 5.4) into a DuckDB file,
  all or nothing; :func:`load_into` does the same on an open connection in one transaction.
"""

from behindglass.omop.loader import LoadReport, load_into, load_omop
from behindglass.omop.schema import FieldSpec, TableSpec, cdm_tables, create_cdm, table_spec

__all__ = [
    "FieldSpec",
    "LoadReport",
    "TableSpec",
    "cdm_tables",
    "create_cdm",
    "load_into",
    "load_omop",
    "table_spec",
]
