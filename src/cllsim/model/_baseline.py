"""Which baseline values an untreated steady state can sustain (part of the declaration).

The declaration derives the baseline trafficking rates from the clinical baselines (blood count,
node, spleen and marrow burden) so that the untreated patient is at balance. Some combinations
have no such balance; each condition below names the rule of the declaration that must stay
positive and says why in clinical terms. Every engine evaluates these rules through the one
template (:meth:`cllsim.simulate.Engine.run`), before and after the pre-treatment equilibration.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._hosts import Host


def baseline_conditions(host: Host) -> list[tuple[str, bool, str]]:
    """``(rule id, strictly positive?, reason if violated)`` for ``host``, in the order they are checked."""
    out = [
        (
            "blood_replacement0", True,
            "baseline blood count cannot be sustained: CLL cells die in blood faster than tissues "
            "release them (raise egress_per_day_* or lower niche_fraction_*, or lower baseline_alc_per_uL)",
        )
    ]
    for t in host.tissue_ids:
        out.append((f"homing_balance_{t}", False, f"negative baseline homing to {t}: blood cannot feed its free pool"))
    for t in host.tissue_ids:
        out.append((
            f"binding_balance_{t}", False,
            f"niche pool of {t} grows faster than cells can detach or die at baseline: raise detach_per_day_{t} "
            "or lower division rates",
        ))
    return out


def baseline_rules(host: Host) -> tuple[str, ...]:
    """Rules of the declaration that :func:`baseline_problems` reads."""
    return tuple(rule for rule, _, _ in baseline_conditions(host))


def baseline_problems(host: Host, rules: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per patient, the first reason an untreated steady state is impossible (``""`` if none).

    Parameters
    ----------
    host
        The host whose conditions apply.
    rules
        Values of :func:`baseline_rules` at the untreated start, each of shape ``(n,)``.
    """
    n = np.broadcast_shapes(*(np.shape(v) for v in rules.values()), (1,))
    reason = np.full(n, "", dtype=object)
    for rule, strict, why in baseline_conditions(host):
        v = np.asarray(rules[rule], dtype=float)
        with np.errstate(invalid="ignore"):
            bad = ~(v > 0) if strict else ~(v >= 0)
        reason[(reason == "") & bad] = why
    return reason


#: Variables of the declaration that may be negative: net fluxes and the balance terms that the
#: baseline conditions test. Every other state and rule is a physical quantity (cells, drug
#: amounts and concentrations, occupancy, kinase activities, receptor levels, BCL2, rates).
SIGNED_VARIABLES = ("cum_net_efflux", "blood_replacement0")
SIGNED_PREFIXES = ("homing_balance_", "binding_balance_")


def must_be_nonnegative(variable: str) -> bool:
    """Whether ``variable`` is a physical quantity that can never be negative."""
    return variable not in SIGNED_VARIABLES and not variable.startswith(SIGNED_PREFIXES)
