"""cllsim.fit (see DESIGN.md section 4)."""
