"""cllsim.analysis (global sensitivity analysis; planned)."""
