"""cllsim.cohort (see DESIGN.md section 4)."""
