"""cllsim.experiments (see DESIGN.md section 4)."""
