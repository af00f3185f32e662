"""Vectorized NumPy code generated from the SBML of the model declaration.

Nothing here knows the model's equations: :func:`compile_model` reads the SBML that the
Antimony declaration (:mod:`cllsim.model._antimony`) produces, classifies its symbols and
translates every rule into NumPy source, in dependency order:

* **parameters**: SBML parameters without rules (one value per patient);
* **inputs**: dosing inputs, found by their id (see :func:`dosing_inputs`: every parameter
  whose id ends with ``_input_mg_per_h``, e.g. ``ibrutinib_input_mg_per_h``), piecewise
  constant in time and supplied by the engine;
* **static rules**: assignment rules that depend on parameters only, evaluated once per
  patient instead of at every right-hand-side evaluation;
* **dynamic rules**: assignment rules that depend on states or inputs;
* **states**: targets of rate rules, with initial values from initial assignments.

The Jacobian of the rate rules with respect to the states is generated too, by differentiating
each rule symbolically (SymPy) and chaining the partial derivatives along the same dependency
graph, so it stays sparse and exact. Arrays are laid out state-major: a state vector for a
batch of ``n`` patients has shape ``(n_states, n)``.
"""

from __future__ import annotations

import functools
import graphlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import libsbml
import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from ..model import Host, antimony_model, antimony_to_sbml
from ._engine import DOSE_INPUT_SUFFIX

#: Id ending of the dosing inputs (zero-order absorption rates, mg/h): the piecewise-constant
#: inputs of the generated code, one per drug (e.g. ``ibrutinib_input_mg_per_h``).
INPUT_SUFFIX = DOSE_INPUT_SUFFIX


def dosing_inputs(model: libsbml.Model) -> tuple[str, ...]:
    """Ids of the dosing inputs of an SBML model: parameters whose id ends with :data:`INPUT_SUFFIX`.

    Parameters
    ----------
    model
        The SBML model.

    Returns
    -------
    tuple of str
        The inputs in SBML order (the order of ``u`` in the generated code), rules excluded.
    """
    ruled = {r.getVariable() for r in model.getListOfRules()}
    return tuple(
        p.getId() for p in model.getListOfParameters() if p.getId().endswith(INPUT_SUFFIX) and p.getId() not in ruled
    )

_FUNCTIONS = {"ln": sympy.log, "log": sympy.log, "exp": sympy.exp, "abs": sympy.Abs, "sqrt": sympy.sqrt}


class CodegenError(RuntimeError):
    """The SBML uses a construct the generated engine cannot translate."""


def _to_sympy(ast: libsbml.ASTNode, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """Translate a libSBML math tree into a SymPy expression (arithmetic, powers, elementary functions)."""
    t = ast.getType()
    kids = [_to_sympy(ast.getChild(i), symbols) for i in range(ast.getNumChildren())]
    if t == libsbml.AST_PLUS:
        return sympy.Add(*kids) if kids else sympy.Integer(0)
    if t == libsbml.AST_MINUS:
        return -kids[0] if len(kids) == 1 else kids[0] - kids[1]
    if t == libsbml.AST_TIMES:
        return sympy.Mul(*kids) if kids else sympy.Integer(1)
    if t == libsbml.AST_DIVIDE:
        return kids[0] / kids[1]
    if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
        return kids[0] ** kids[1]
    if t == libsbml.AST_INTEGER:
        return sympy.Integer(ast.getInteger())
    if t in (libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL):
        return sympy.Float(ast.getReal(), 17)
    if t == libsbml.AST_NAME:
        name = ast.getName()
        if name not in symbols:
            symbols[name] = sympy.Symbol(name, real=True)
        return symbols[name]
    if t == libsbml.AST_FUNCTION_EXP:
        return sympy.exp(kids[0])
    if t == libsbml.AST_FUNCTION_LN:
        return sympy.log(kids[0])
    if t == libsbml.AST_FUNCTION_ROOT and len(kids) == 2:
        return kids[1] ** (1 / kids[0])
    if t == libsbml.AST_FUNCTION_ABS:
        return sympy.Abs(kids[0])
    raise CodegenError(f"unsupported SBML math {libsbml.formulaToL3String(ast)!r}")


def _deps(expr: sympy.Expr) -> set[str]:
    return {s.name for s in expr.free_symbols}


#: Elementary functions the generated code may call unqualified (the printer's ``inline`` mode).
ELEMENTARY = ("exp", "log", "sqrt", "abs")


class PlainFloats:
    """Printer mixin: floats as plain Python literals (full precision, no ``np.float64(...)``)."""

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))


class _Printer(PlainFloats, NumPyPrinter):
    """NumPy printer writing ``np.`` and plain float literals."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": False, "inline": True})


@dataclass(frozen=True)
class CompiledModel:
    """The model translated into vectorized NumPy functions.

    Attributes
    ----------
    states
        State ids (rate-rule targets), in vector order.
    parameters
        Ids of per-patient parameters the code reads.
    inputs
        Ids of the dosing inputs (see :func:`dosing_inputs`), in the order of ``u``.
    static
        Ids of assignment rules that depend only on parameters.
    source
        The generated Python source (for inspection).
    """

    states: tuple[str, ...]
    parameters: tuple[str, ...]
    inputs: tuple[str, ...]
    static: tuple[str, ...]
    source: str
    jac_nonzeros: tuple[tuple[int, int], ...]
    _fns: dict[str, Callable] = field(repr=False)
    blocks: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    #: Source of the same block functions for one patient at a time, on flat arrays (compiled by
    #: :mod:`._compiled`): parameters and static rules as ``p[k]`` in :attr:`pvec` order, inputs as
    #: ``u[k]``, results written into caller-owned arrays.
    scalar_source: str = ""
    pvec: tuple[str, ...] = ()

    @property
    def n_states(self) -> int:
        return len(self.states)

    def index(self, state: str) -> int:
        return self.states.index(state)

    def derived(self, p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameters plus the static rules evaluated on them (``{id: array (n,)}``)."""
        return self._fns["derived"](dict(p))

    def initial(self, d: Mapping[str, np.ndarray], given: Mapping[str, np.ndarray]) -> np.ndarray:
        """Initial state ``(n_states, n)``: initial assignments, except states in ``given``."""
        return self._fns["initial"](d, given)

    def rhs(self, y: np.ndarray, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray]) -> np.ndarray:
        """Time derivatives (per hour) of the states ``y`` of shape ``(n_states, n)``."""
        return self._fns["rhs_full"](y, None, d, u)

    def jac(self, y: np.ndarray, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray]) -> np.ndarray:
        """Jacobian ``d rhs_i / d y_j`` of shape ``(n, n_states, n_states)``."""
        return self._fns["jac_full"](y, None, d, u)

    def evaluate(
        self, y: np.ndarray, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Every parameter, input, state and rule at the states ``y``."""
        return self._fns["everything"](y, d, u)

    def factor(
        self, y: np.ndarray, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray], c: np.ndarray
    ) -> tuple:
        """Sparse LU factors of ``c*I - J`` at ``y`` (``c``: array of shape ``(n,)``), for :meth:`solve`."""
        return self._fns["factor_full"](y, None, d, u, c)

    def solve(self, factors: tuple, rhs: np.ndarray) -> np.ndarray:
        """Solve ``(c*I - J) x = rhs`` with factors from :meth:`factor`; ``rhs`` of shape ``(n_states, n)``."""
        return self._fns["solve_full"](factors, rhs)

    def block(self, tag: str, fn: str) -> Callable:
        """Generated function ``fn`` (``rhs``, ``jac``, ``ft``, ``factor``, ``solve``) of block ``tag``."""
        return self._fns[f"{fn}_{tag}"]

    def block_keys(self, tag: str) -> tuple[str, ...]:
        """Parameters and static rules that the functions of block ``tag`` read (for slicing batches)."""
        keys: set[str] = set()
        for fn in ("rhs", "factor", "ft"):
            keys |= {c for c in self._fns[f"{fn}_{tag}"].__code__.co_consts if isinstance(c, str)}
        return tuple(sorted(keys & (set(self.parameters) | set(self.static) | set(self.inputs))))

    def variables(
        self, names: tuple[str, ...], y: np.ndarray, d: Mapping[str, np.ndarray], u: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Values of any states, parameters or rules named in ``names`` (arrays of ``y``'s trailing shape)."""
        vals = self._fns["everything"](y, d, u)
        return {k: np.broadcast_to(vals[k], y.shape[1:]) for k in names}


def _topo(rules: Mapping[str, sympy.Expr], known: set[str]) -> list[str]:
    graph = {k: {x for x in _deps(e) if x in rules} for k, e in rules.items()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise CodegenError(f"assignment rules form a cycle: {exc.args[1]}") from None


def read_rules(
    sbml: str, engine: str
) -> tuple[libsbml.SBMLDocument, dict[str, sympy.Symbol], dict[str, sympy.Expr], dict[str, sympy.Expr]]:
    """Parse ``sbml`` into its document, symbols, assignment rules and rate rules (as sympy).

    ``engine`` names the caller in the error raised for a model the generators cannot translate.
    The document is returned (not only its model) because it owns the model's memory.
    """
    doc = libsbml.readSBMLFromString(sbml)
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR):
        raise CodegenError(doc.getErrorLog().toString())
    model = doc.getModel()
    if model.getNumSpecies() or model.getNumReactions():
        raise CodegenError(f"the {engine} expects a model of parameters with rate rules (no species/reactions)")
    symbols: dict[str, sympy.Symbol] = {}
    assign: dict[str, sympy.Expr] = {}
    rates: dict[str, sympy.Expr] = {}
    for rule in model.getListOfRules():
        expr = _to_sympy(rule.getMath(), symbols)
        if rule.isAssignment():
            assign[rule.getVariable()] = expr
        elif rule.isRate():
            rates[rule.getVariable()] = expr
        else:
            raise CodegenError("algebraic rules are not supported")
    return doc, symbols, assign, rates


def compile_sbml(sbml: str) -> CompiledModel:
    """Translate the rules of ``sbml`` into vectorized NumPy functions (see module docstring)."""
    doc, symbols, assign, rates = read_rules(sbml, "cohort engine")
    model = doc.getModel()
    init_assign = {ia.getSymbol(): _to_sympy(ia.getMath(), symbols) for ia in model.getListOfInitialAssignments()}
    states = tuple(rates)
    inputs = dosing_inputs(model)
    parameters = tuple(
        p.getId() for p in model.getListOfParameters()
        if p.getId() not in assign and p.getId() not in rates and p.getId() not in inputs
    )
    order = _topo(assign, set(parameters))
    dynamic_roots = set(states) | set(inputs)
    dynamic: set[str] = set()
    for k in order:
        if _deps(assign[k]) & (dynamic_roots | dynamic):
            dynamic.add(k)
    static = [k for k in order if k not in dynamic]
    dyn_order = [k for k in order if k in dynamic]

    pr = _Printer()
    code = pr.doprint
    lines: list[str] = []
    w = lines.append

    # derived(p): parameters and static rules (plus initial values of non-state parameters)
    w("def derived(d):")
    for k in parameters:
        w(f"    {k} = d[{k!r}]")
    for k in static:
        w(f"    {k} = d[{k!r}] = {code(assign[k])}")
    w("    return d")
    w("")

    def load(indent: str, names: set[str]) -> None:
        for i, s in enumerate(states):
            if s in names:
                w(f"{indent}{s} = y[{i}]")
        for k in list(parameters) + static:
            if k in names:
                w(f"{indent}{k} = d[{k!r}]")
        for k in inputs:
            if k in names:
                w(f"{indent}{k} = u[{k!r}]")

    # closure of what the rates need
    needed_dyn = _closure(set().union(*(_deps(e) for e in rates.values())), assign, dynamic)
    rhs_dyn = [k for k in dyn_order if k in needed_dyn]
    used = set().union(*(_deps(e) for e in rates.values()), *(_deps(assign[k]) for k in rhs_dyn))
    w("def rhs(y, d, u):")
    load("    ", used)
    for k in rhs_dyn:
        w(f"    {k} = {code(assign[k])}")
    w("    out = np.empty_like(y)")
    for i, s in enumerate(states):
        w(f"    out[{i}] = {code(rates[s])}")
    w("    return out")
    w("")

    # all(y): every variable (observables)
    w("def everything(y, d, u):")
    load("    ", set(states) | set(parameters) | set(static) | set(inputs))
    for k in dyn_order:
        w(f"    {k} = {code(assign[k])}")
    w("    v = dict(d)")
    w("    v.update(u)")
    for s in states:
        w(f"    v[{s!r}] = {s}")
    for k in dyn_order:
        w(f"    v[{k!r}] = {k}")
    w("    return v")
    w("")

    # initial(d, given): initial assignments of states (and of the rules they need)
    w("def initial(d, given):")
    w("    n = np.broadcast_shapes(*(np.shape(v) for v in d.values()))")
    init_needed: set[str] = set()
    for s in states:
        expr = init_assign.get(s)
        if expr is not None:
            init_needed |= _deps(expr)
    init_dyn = [k for k in dyn_order if k in _closure(init_needed, assign, dynamic)]
    used_init = init_needed | set().union(*(_deps(assign[k]) for k in init_dyn)) if init_dyn else init_needed
    for k in list(parameters) + static:
        if k in used_init:
            w(f"    {k} = d[{k!r}]")
    for k in inputs:
        if k in used_init:
            w(f"    {k} = 0.0")
    # initial state values: an initial assignment, else the SBML value
    plain = {s: model.getParameter(s).getValue() for s in states}
    init_states = [s for s in states if s not in init_assign]
    for s in init_states:
        w(f"    {s} = given[{s!r}] if {s!r} in given else {plain[s]!r}")
    pending = [s for s in states if s in init_assign]
    # initial assignments may refer to dynamic rules which refer to states: resolve in dependency order
    graph: dict[str, set[str]] = {}
    for s in pending:
        graph[s] = {x for x in _deps(init_assign[s]) if x in init_assign or x in dynamic}
    for k in init_dyn:
        graph[k] = {x for x in _deps(assign[k]) if x in dynamic or x in pending}
    for k in graphlib.TopologicalSorter(graph).static_order():
        if k in pending:
            w(f"    {k} = given[{k!r}] if {k!r} in given else {code(init_assign[k])}")
        elif k in dynamic:
            w(f"    {k} = {code(assign[k])}")
    w("    y = np.empty((" + str(len(states)) + ",) + tuple(n))")
    for i, s in enumerate(states):
        w(f"    y[{i}] = {s}")
    w("    return y")
    w("")

    # Jacobian structure first (which rate depends on which state), to split the states into
    # blocks: the driver block (upstream of the main coupled block and independent of it) and
    # the rest, solved with separate step sizes by the engine.
    state_deps: dict[int, set[int]] = {}
    rule_states: dict[str, set[int]] = {s: {i} for i, s in enumerate(states)}
    for k in dyn_order:
        rule_states[k] = set().union(*(rule_states[x] for x in _deps(assign[k]) if x in rule_states))
    for i, s in enumerate(states):
        state_deps[i] = set().union(*(rule_states[x] for x in _deps(rates[s]) if x in rule_states))
    driver = _driver_block(len(states), state_deps)
    blocks: dict[str, tuple[list[int], list[int]]] = {"full": (list(range(len(states))), [])}
    if driver:
        rest = [i for i in range(len(states)) if i not in driver]
        blocks["driver"] = (sorted(driver), [])
        blocks["driven"] = (rest, sorted(driver))
        linear = _linear_states(sorted(driver), states, rates, assign, dynamic, rule_states, symbols, inputs)
        if linear and len(linear) < len(driver):
            blocks["linear"] = (linear, [])
            blocks["drivernl"] = ([i for i in sorted(driver) if i not in linear], linear)
            _gen_linear(linear, states, rates, symbols, parameters, static, inputs, code, w)
    nonzeros: dict[tuple[int, int], str] = {}
    pvec = (*parameters, *static)
    scalar_lines: list[str] = []
    flat = _Flat(pvec, inputs)
    for tag, (block, external) in blocks.items():
        nz = _gen_block(tag, block, external, states, rates, assign, rhs_dyn, symbols, parameters, static,
                        inputs, code, w)
        _gen_block(tag, block, external, states, rates, assign, rhs_dyn, symbols, parameters, static,
                   inputs, code, scalar_lines.append, flat)
        if tag == "full":
            nonzeros = nz
    source = "\n".join(lines) + "\n"
    # the printer writes elementary functions unqualified (``log`` appears in derivatives of powers)
    namespace: dict[str, object] = {"np": np, **{f: getattr(np, f) for f in ELEMENTARY}}
    exec(compile(source, f"<cllsim generated {hashlib.sha1(sbml.encode()).hexdigest()[:8]}>", "exec"), namespace)
    fns: dict[str, Callable] = {
        k: v for k, v in namespace.items() if callable(v) and not k.startswith("_") and k not in ("np", *ELEMENTARY)
    }
    return CompiledModel(states, parameters, inputs, tuple(static), source, tuple(nonzeros), fns,
                         {tag: (tuple(b), tuple(e)) for tag, (b, e) in blocks.items()},
                         "\n".join(scalar_lines) + "\n", pvec)


def _linear_states(driver, states, rates, assign, dynamic, rule_states, symbols, inputs) -> list[int]:
    """Largest set of driver states whose rates are affine in themselves and the inputs (e.g. linear PK).

    Such states have a closed-form solution between input switches; the engine propagates
    them exactly instead of integrating them.
    """
    cand = set(driver)
    while True:
        keep = set()
        for i in cand:
            expr = rates[states[i]]
            deps = set().union(*(rule_states[x] for x in _deps(expr) if x in rule_states))
            if not deps <= cand or any(x in dynamic for x in _deps(expr)):
                continue
            variables = [symbols[states[j]] for j in deps] + [symbols[k] for k in inputs if k in symbols]
            if all(sympy.diff(expr, a, b) == 0 for a in variables for b in variables):
                keep.add(i)
        if keep == cand:
            return sorted(cand)
        cand = keep


def _gen_linear(linear, states, rates, symbols, parameters, static, inputs, code, w) -> None:
    """Emit ``linear_system(d)``: A (n, k, k), B (n, k, m) and offset b0 (n, k) of dL/dt = A L + B u + b0."""
    k, m = len(linear), len(inputs)
    w("def linear_system(d):")
    names = set().union(*(_deps(rates[states[i]]) for i in linear))
    for p in list(parameters) + list(static):
        if p in names:
            w(f"    {p} = d[{p!r}]")
    w("    n = np.broadcast_shapes(*(np.shape(v) for v in d.values()))")
    w(f"    A = np.zeros(n + ({k}, {k}))")
    w(f"    B = np.zeros(n + ({k}, {max(m, 1)}))")
    w(f"    b0 = np.zeros(n + ({k},))")
    zero = {symbols[states[j]]: 0 for j in linear}
    zero.update({symbols[i]: 0 for i in inputs if i in symbols})
    for r, i in enumerate(linear):
        expr = rates[states[i]]
        for c, j in enumerate(linear):
            coef = sympy.diff(expr, symbols[states[j]])
            if coef != 0:
                w(f"    A[..., {r}, {c}] = {code(coef)}")
        for c, name in enumerate(inputs):
            if name in symbols:
                coef = sympy.diff(expr, symbols[name])
                if coef != 0:
                    w(f"    B[..., {r}, {c}] = {code(coef)}")
        off = expr.subs(zero)
        if off != 0:
            w(f"    b0[..., {r}] = {code(off)}")
    w("    return A, B, b0")
    w("")


def _driver_block(n: int, state_deps: Mapping[int, set[int]]) -> set[int]:
    """States whose dynamics do not depend on the largest coupled block (e.g. drug -> BTK -> kinases).

    They drive that block but do not feel it, so they can be integrated with their own, smaller
    steps. Empty if every state depends on the main block.
    """
    deps = {i: sorted(state_deps[i] - {i}) for i in range(n)}
    comps = _components(n, {(i, j): "" for i in range(n) for j in deps[i]})
    main = set(comps[int(np.argmax([len(c) for c in comps]))])  # the largest (first of equals)
    dependents: dict[int, set[int]] = {j: set() for j in range(n)}
    for i in range(n):
        for j in deps[i]:
            dependents[j].add(i)
    touched = set(main)
    todo = list(main)
    while todo:
        for i in dependents[todo.pop()]:
            if i not in touched:
                touched.add(i)
                todo.append(i)
    driver = set(range(n)) - touched
    return driver if len(driver) < n else set()


@dataclass(frozen=True)
class _Flat:
    """Layout of the one-patient ("scalar") flavor: where each parameter and input is read from."""

    pvec: tuple[str, ...]
    inputs: tuple[str, ...]

    def param(self, name: str) -> str:
        return f"p[{self.pvec.index(name)}]"

    def input(self, name: str) -> str:
        return f"u[{self.inputs.index(name)}]"


def _gen_block(tag, block, external, states, rates, assign, rhs_dyn, symbols, parameters, static, inputs, code, w,
               flat: _Flat | None = None):
    """Emit ``rhs_<tag>``, ``jac_<tag>``, ``factor_<tag>``, ``solve_<tag>`` and ``ft_<tag>`` for a block of states.

    States of the block are rows of ``y``; states it reads from another block are rows of ``x``
    (``xdot``: their time derivatives, for the non-autonomous term ``ft``). Returns the Jacobian
    non-zeros ``{(row, col): expression}`` in block positions.

    With ``flat``, the one-patient flavor is emitted instead: 1-D ``y``/``x``, parameters from the
    vector ``p``, inputs from ``u``, and results written into the last argument (``out`` or the
    factor array ``F``); no Jacobian matrix function.
    """
    pos = {states[i]: k for k, i in enumerate(block)}
    xpos = {states[i]: k for k, i in enumerate(external)}
    names = set().union(*(_deps(rates[states[i]]) for i in block))
    dyn = [k for k in rhs_dyn if k in _closure(names, assign, set(rhs_dyn))]
    used = names.union(*(_deps(assign[k]) for k in dyn))

    def header(sig: str) -> None:
        w(f"def {sig}:")
        for s_, k in pos.items():
            if s_ in used:
                w(f"    {s_} = y[{k}]")
        for s_, k in xpos.items():
            if s_ in used:
                w(f"    {s_} = x[{k}]")
        for k in list(parameters) + list(static):
            if k in used:
                w(f"    {k} = {flat.param(k) if flat else f'd[{k!r}]'}")
        for k in inputs:
            if k in used:
                w(f"    {k} = {flat.input(k) if flat else f'u[{k!r}]'}")
        for k in dyn:
            w(f"    {k} = {code(assign[k])}")

    P = "p" if flat else "d"
    header(f"rhs_{tag}(y, x, {P}, u, out)" if flat else f"rhs_{tag}(y, x, d, u)")
    if not flat:
        w("    out = np.empty_like(y)")
    for k, i in enumerate(block):
        w(f"    out[{k}] = {code(rates[states[i]])}")
    w("    return out")
    w("")

    # forward chain rule over the rules; columns: block states 0..nb-1, external nb..
    nb = len(block)
    grads: dict[str, dict[int, str]] = {s_: {k: "1.0"} for s_, k in pos.items()}
    grads.update({s_: {nb + k: "1.0"} for s_, k in xpos.items()})
    chain_lines: list[str] = []
    counter = [0]

    def chain(expr: sympy.Expr, prefix: str) -> dict[int, str]:
        total: dict[int, list[str]] = {}
        for name in sorted(_deps(expr)):
            if name not in grads:
                continue
            partial = sympy.diff(expr, symbols[name])
            if partial == 0:
                continue
            counter[0] += 1
            pname = f"_p{counter[0]}"
            chain_lines.append(f"    {pname} = {code(partial)}")
            for j, g in grads[name].items():
                total.setdefault(j, []).append(pname if g == "1.0" else f"{pname}*{g}")
        out: dict[int, str] = {}
        for j, terms in total.items():
            gname = f"_g{prefix}_{j}"
            chain_lines.append(f"    {gname} = {' + '.join(terms)}")
            out[j] = gname
        return out

    for k in dyn:
        grads[k] = chain(assign[k], k)
    nonzeros: dict[tuple[int, int], str] = {}
    cross: dict[tuple[int, int], str] = {}
    for k, i in enumerate(block):
        for j, g in chain(rates[states[i]], f"rate{k}").items():
            (nonzeros if j < nb else cross)[(k, j if j < nb else j - nb)] = g

    if not flat:
        header(f"jac_{tag}(y, x, d, u)")
        for line in chain_lines:
            w(line)
        w(f"    J = np.zeros(np.shape(y[0]) + ({nb}, {nb}))")
        for (i, j), g in nonzeros.items():
            w(f"    J[..., {i}, {j}] = {g}")
        w("    return J")
        w("")

    header(f"ft_{tag}(y, x, xdot, {P}, u, out)" if flat else f"ft_{tag}(y, x, xdot, d, u)")
    for line in chain_lines:
        w(line)
    for k in range(nb):
        terms = [f"{g}*xdot[{j}]" for (i, j), g in cross.items() if i == k]
        if not flat and k == 0:
            w("    out = np.zeros_like(y)")
        if terms:
            w(f"    out[{k}] = {' + '.join(terms)}")
        elif flat:
            w(f"    out[{k}] = 0.0")
    w("    return out")
    w("")

    header(f"factor_{tag}(y, x, {P}, u, c, F)" if flat else f"factor_{tag}(y, x, d, u, c)")
    for line in chain_lines:
        w(line)
    size = _sparse_lu(nb, nonzeros, w, f"solve_{tag}", flat=flat is not None)
    w("")
    if flat:
        w(f"FACTOR_SIZE_{tag} = {size}")
        w("")
    return nonzeros


def _block_order(n: int, nonzeros: Mapping[tuple[int, int], str]) -> list[int]:
    """States ordered so that upstream blocks come first (strongly connected components, Tarjan).

    With rates depending on upstream states only, the Jacobian is block lower triangular in this
    order and the LU factorization fills in only inside the coupled blocks.
    """
    order: list[int] = []
    for comp in _components(n, nonzeros):
        order.extend(_min_degree(sorted(comp), nonzeros))
    return order


def _components(n: int, nonzeros: Mapping[tuple[int, int], str]) -> list[list[int]]:
    """Strongly connected components of the dependency graph, upstream first (Tarjan)."""
    deps: dict[int, list[int]] = {i: [] for i in range(n)}
    for i, j in nonzeros:
        if i != j:
            deps[i].append(j)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on: set[int] = set()
    order: list[list[int]] = []
    counter = [0]

    def visit(v: int) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w_ in deps[v]:
            if w_ not in index:
                visit(w_)
                low[v] = min(low[v], low[w_])
            elif w_ in on:
                low[v] = min(low[v], index[w_])
        if low[v] == index[v]:
            comp = []
            while True:
                x = stack.pop()
                on.discard(x)
                comp.append(x)
                if x == v:
                    break
            order.append(sorted(comp))

    for v in range(n):
        if v not in index:
            visit(v)
    return order


def _min_degree(block: list[int], nonzeros: Mapping[tuple[int, int], str]) -> list[int]:
    """Greedy minimum-degree elimination order inside one coupled block (limits LU fill-in)."""
    members = set(block)
    adj: dict[int, set[int]] = {v: set() for v in block}
    for i, j in nonzeros:
        if i != j and i in members and j in members:
            adj[i].add(j)
            adj[j].add(i)
    order: list[int] = []
    while adj:
        v = min(adj, key=lambda x: (len(adj[x]), x))
        nbrs = adj.pop(v)
        for a in nbrs:
            adj[a].discard(v)
            adj[a] |= nbrs - {a}
        order.append(v)
    return order


def _sparse_lu(
    n: int, nonzeros: Mapping[tuple[int, int], str], w: Callable[[str], None], solve_name: str, flat: bool = False
) -> int:
    """Emit the body of ``factor`` and the function ``solve`` for M = c*I - J with J's sparsity.

    With ``flat``, ``factor`` stores the factors in its array argument ``F`` and ``solve(F, rhs, x)``
    writes into ``x`` (one patient, compiled).

    Elimination is done on the pattern at code-generation time (Doolittle, no pivoting: M is
    dominated by its diagonal c = 1/(h*gamma) for the step sizes the solver takes), so the
    generated code only touches structural non-zeros and their fill-in.
    """
    perm = _block_order(n, nonzeros)
    pos = {old: new for new, old in enumerate(perm)}
    pattern: dict[tuple[int, int], str] = {}
    for (i, j), g in nonzeros.items():
        a, b = pos[i], pos[j]
        name = f"m_{a}_{b}"
        pattern[(a, b)] = name
        w(f"    {name} = {'c - ' + g if a == b else '-' + g}")
    for a in range(n):
        if (a, a) not in pattern:
            pattern[(a, a)] = f"m_{a}_{a}"
            w(f"    m_{a}_{a} = c + 0.0")
    rows: dict[int, set[int]] = {a: set() for a in range(n)}
    for a, b in pattern:
        rows[a].add(b)
    for k in range(n):
        w(f"    r_{k} = 1.0/m_{k}_{k}")
        below = sorted(a for a in range(k + 1, n) if k in rows[a])
        right = sorted(b for b in rows[k] if b > k)
        for a in below:
            w(f"    m_{a}_{k} = m_{a}_{k}*r_{k}")
            for b in right:
                if b not in rows[a]:
                    rows[a].add(b)
                    w(f"    m_{a}_{b} = -m_{a}_{k}*m_{k}_{b}")
                else:
                    w(f"    m_{a}_{b} = m_{a}_{b} - m_{a}_{k}*m_{k}_{b}")
    lower = sorted((a, b) for a in range(n) for b in rows[a] if b < a)
    upper = sorted((a, b) for a in range(n) for b in rows[a] if b > a)
    names = [f"m_{a}_{b}" for a, b in lower + upper] + [f"r_{k}" for k in range(n)]
    if flat:
        for i, name in enumerate(names):
            w(f"    F[{i}] = {name}")
        w("    return F")
        w("")
        w(f"def {solve_name}(F, rhs, x):")
        for i, name in enumerate(names):
            w(f"    {name} = F[{i}]")
    else:
        w(f"    return ({', '.join(names)},)")
        w("")
        w(f"def {solve_name}(F, rhs):")
        w(f"    ({', '.join(names)},) = F")
        w("    x = np.empty_like(rhs)")
    for a in range(n):
        terms = "".join(f" - m_{a}_{b}*z_{b}" for b in sorted(rows[a]) if b < a)
        w(f"    z_{a} = rhs[{perm[a]}]{terms}")
    for a in reversed(range(n)):
        terms = "".join(f" - m_{a}_{b}*z_{b}" for b in sorted(rows[a]) if b > a)
        w(f"    z_{a} = (z_{a}{terms})*r_{a}" if terms else f"    z_{a} = z_{a}*r_{a}")
        w(f"    x[{perm[a]}] = z_{a}")
    w("    return x")
    return len(names)


def _closure(names: set[str], assign: Mapping[str, sympy.Expr], within: set[str]) -> set[str]:
    out: set[str] = set()
    todo = [x for x in names if x in within]
    while todo:
        k = todo.pop()
        if k in out:
            continue
        out.add(k)
        todo.extend(x for x in _deps(assign[k]) if x in within)
    return out


def compile_host(host: Host, drugs: tuple[str, ...] = ("ibrutinib",)) -> CompiledModel:
    """Compile the declaration of ``host`` (no dosing events; parameter values are supplied per patient).

    ``cells_frozen`` stays a parameter, so the same code serves the pre-treatment equilibration.
    Cached by the declaration's text.
    """
    return _compile_text(antimony_model(host, {}, drugs=drugs))


@functools.lru_cache(maxsize=4)
def _compile_text(text: str) -> CompiledModel:
    return compile_sbml(antimony_to_sbml(text))
