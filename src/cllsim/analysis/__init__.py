"""cllsim.analysis (see DESIGN.md section 4)."""
