"""The hardware contract: constants shared by the RTL and the host, from one TOML source."""
from memhil.contract.spec import SPEC, Spec  # noqa: F401
