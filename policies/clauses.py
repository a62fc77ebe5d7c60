"""The regulation clauses our rules implement, by id; each rule names its clauses (``Rule.clauses``).

Where the mapping comes from: the clause texts are the regulations' own (21 CFR Part 11 as published in
the eCFR; EudraLex Volume 4, Annex 11 "Computerised Systems", 2011; Regulation (EU) 2016/679). Which rule
implements which clause is this project's reading of those texts: AWS publishes its conformance packs
("Operational Best Practices for FDA Title 21 CFR Part 11", "... for GxP EU Annex 11") as rule lists
whose clause tables are not available offline, so the mapping is ours, stated here once and reviewed
with the site's QA like any other specification.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clause:
    id: str
    regulation: str
    requirement: str  # what the clause asks, in a line


_PART_11 = "21 CFR Part 11"
_ANNEX_11 = "EU GMP Annex 11"
_GDPR = "GDPR"

CLAUSES: dict[str, Clause] = {
    clause.id: clause
    for clause in (
        Clause(
            "21 CFR 11.10(c)",
            _PART_11,
            "Protection of records to enable their accurate and ready retrieval throughout the retention period.",
        ),
        Clause(
            "21 CFR 11.10(d)",
            _PART_11,
            "Limiting system access to authorized individuals.",
        ),
        Clause(
            "21 CFR 11.10(e)",
            _PART_11,
            "Secure, computer-generated, time-stamped audit trails of operator entries and actions, retained as "
            "long as the records; changes do not obscure earlier information.",
        ),
        Clause(
            "21 CFR 11.30",
            _PART_11,
            "Controls for open systems: encryption to ensure authenticity and confidentiality.",
        ),
        Clause(
            "Annex 11 §5",
            _ANNEX_11,
            "Systems exchanging data electronically with other systems include built-in checks for the correct "
            "and secure entry and processing of data.",
        ),
        Clause(
            "Annex 11 §7.1",
            _ANNEX_11,
            "Data secured by physical and electronic means against damage; accessibility, readability and accuracy "
            "ensured throughout the retention period.",
        ),
        Clause(
            "Annex 11 §7.2",
            _ANNEX_11,
            "Regular back-ups of all relevant data; integrity, accuracy and the ability to restore them checked "
            "during validation and monitored periodically.",
        ),
        Clause(
            "Annex 11 §9",
            _ANNEX_11,
            "A record of all GMP-relevant changes and deletions (a system-generated audit trail), regularly reviewed.",
        ),
        Clause(
            "Annex 11 §12.1",
            _ANNEX_11,
            "Physical and/or logical controls restricting access to the system to authorised persons.",
        ),
        Clause("Annex 11 §17", _ANNEX_11, "Archived data checked for accessibility, readability and integrity."),
        Clause("GDPR Art. 32", _GDPR, "Security of processing, including encryption of personal data."),
        Clause(
            "GDPR Art. 44",
            _GDPR,
            "No transfer of personal data to a third country except under the conditions of Chapter V.",
        ),
    )
}


def unknown(clauses: tuple[str, ...]) -> list[str]:
    """The ids in ``clauses`` that ``CLAUSES`` does not define."""
    return [clause for clause in clauses if clause not in CLAUSES]
