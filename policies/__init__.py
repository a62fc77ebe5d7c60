"""Compliance as code: the acknowledgment helper, our own nag packs, the gate."""

# The names the gate's packs report under (policies.gate.PACKS, in order). The evidence lists them all,
# because a pack without findings is absent from the validation report. Kept import-free for tooling.
PACK_NAMES = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321", "GxP", "Residency")
# Where our packs record every resource each rule evaluated, in the cloud assembly
# (<folder>/<stack>.<pack>.json, policies/packs.py); the evidence's traceability matrix reads it.
EVALUATIONS_FOLDER = "rule-evaluations"
