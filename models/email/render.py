"""Email templates rendered in Jinja's sandbox, and checked before they are saved.

People write templates; the sandbox makes sure a template can read the
placeholders it is given and nothing else (no attribute tricks into Python).
"""

from __future__ import annotations

import functools
import html
import os
import re
import string
import threading
import time
from dataclasses import dataclass, field

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

try:
    from flask import current_app, has_app_context
except ImportError:  # pragma: no cover - the app always has Flask
    has_app_context = lambda: False  # noqa: E731

# What a template may use: {{ contact.first_name }}, {{ unsubscribe_url }}, …
PLACEHOLDERS = {
    "contact": ["first_name", "last_name", "full_name", "email", "title", "city", "language",
                "phone", "kind", "status"],
    "company": ["name", "city", "country", "industry"],
    "owner": ["name", "email"],
    "campaign": ["name", "number"],
    "unsubscribe_url": [],
    "registration_url": [],
    "survey_url": [],
    "contact_url": [],  # the contact's page in the back office (automation notifications)
}
UNSUBSCRIBE = "unsubscribe_url"


class TemplateProblem(ValueError):
    """A template that cannot be used; the message names the line when there is one."""


class EmptyUnlessUnsafe(ChainableUndefined):
    """Unknown placeholders render empty (they were a warning on save); a blocked attribute
    (the sandbox's "unsafe" undefined) raises, so an escape attempt is refused, not hidden."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return ""

    def __html__(self) -> str:
        return str(self)


# An email part larger than this is a mistake or an attack, never a message: a template
# may not make one (nor a string, list or number on the way to one).
MAX_OUTPUT = 1_000_000  # characters
MAX_INT_BITS = 4096  # ~1,200 digits
_FORMAT_WIDTHS = re.compile(r"%[#0 +-]*(\d*)(?:\.(\d*))?")


class OutputTooLarge(SecurityError):
    """A template that would produce more than MAX_OUTPUT characters (or a huge number)."""

    def __init__(self, message: str = f"the output would be larger than {MAX_OUTPUT:,} characters"):
        super().__init__(message)


TOO_BIG_A_NUMBER = f"a number would have more than {MAX_INT_BITS:,} bits"

# Time: a render may take this many seconds (KOHDE_TEMPLATE_TIME_BUDGET) before it is stopped.
# The sandbox checks the clock on every call, attribute, operator, filter and loop step, so a
# template that loops or recurses without producing output is stopped too, not only one that
# grows. Macros may call each other this deep (Python's own limit would be a RecursionError).
DEFAULT_TIME_BUDGET = 2.0
MAX_CALL_DEPTH = 100


def time_budget() -> float:
    """Seconds one render may take: the app's KOHDE_TEMPLATE_TIME_BUDGET (or the env's)."""
    raw = (current_app.config.get("KOHDE_TEMPLATE_TIME_BUDGET") if has_app_context() else None) \
        or os.environ.get("KOHDE_TEMPLATE_TIME_BUDGET")
    try:
        return max(float(raw), 0.01) if raw else DEFAULT_TIME_BUDGET
    except (TypeError, ValueError):
        return DEFAULT_TIME_BUDGET


class TemplateTimeout(SecurityError):
    """A render that ran past its time budget."""

    def __init__(self, budget: float):
        super().__init__(
            f"the template took longer than {budget:g} s to render (a loop, a recursive macro "
            "or a filter doing too much work); simplify it"
        )


class TooDeep(SecurityError):
    """Macros calling each other (or themselves) too deep."""

    def __init__(self):
        super().__init__(
            f"macros call each other more than {MAX_CALL_DEPTH} levels deep (endless recursion?)"
        )


class _Clock(threading.local):
    """The render in progress on this thread: its deadline and macro call depth."""

    deadline: float | None = None
    budget: float = DEFAULT_TIME_BUDGET
    depth: int = 0


_clock = _Clock()


def _tick() -> None:
    deadline = _clock.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateTimeout(_clock.budget)


class _Budgeted:
    """A loop's iterable that checks the clock at every step (length kept for ``loop``)."""

    __slots__ = ("_items",)

    def __init__(self, items):
        self._items = items

    def __iter__(self):
        for item in self._items:
            _tick()
            yield item

    def __len__(self):
        return len(self._items)


# str methods whose result can be far larger than the string: the size they would make,
# known before they run.
def _method_size(name: str, text: str, args, kwargs) -> int:
    def number(i, key, default=0):
        value = args[i] if len(args) > i else kwargs.get(key, default)
        return value if isinstance(value, int) else 0

    if name in ("center", "ljust", "rjust"):
        return max(len(text), number(0, "width"))
    if name == "zfill":
        return max(len(text), number(0, "width"))
    if name == "expandtabs":
        return len(text) + text.count("\t") * max(number(0, "tabsize", 8), 0)
    if name == "replace" and len(args) >= 2:
        return _predicted_size("replace", text, args, kwargs)
    if name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple):
            return _weight(items) + len(text) * max(len(items) - 1, 0)
    if name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(text) * max(longest, 1)
    if name in ("format", "format_map"):
        return _format_size(text, args, kwargs)
    return 0


def _format_size(text: str, args, kwargs) -> int:
    """A bound for what ``text.format(...)`` makes: widths and precisions in its fields
    (``{:>999999999}``, ``{:{}}`` with a huge argument) counted before any padding."""
    size = len(text)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return 0  # the call will fail on its own
    values = [*args, *kwargs.values()]
    for _literal, _name, spec, _conversion in fields:
        for number in re.findall(r"\d+", spec or ""):
            size += int(number) if len(number) < 12 else MAX_OUTPUT + 1
        if spec and "{" in spec:
            size += sum(v for v in values if isinstance(v, int) and v > 0)
    size += sum(_weight(v) for v in values)
    return size


SIZED_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join",
                 "translate", "format", "format_map"}


def _checked(value):
    """``value`` when it is of a sane size; OutputTooLarge otherwise."""
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_OUTPUT:
        raise OutputTooLarge()
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OutputTooLarge(TOO_BIG_A_NUMBER)
    return value


def _sequence(value) -> bool:
    return isinstance(value, str | list | tuple | bytes)


CONTAINERS = (list, tuple, dict, set, frozenset)


def _weight(value, limit: int = MAX_OUTPUT) -> int:
    """About how many characters printing ``value`` makes: a string its length, a container
    its items' weights (an item held many times counts every time, as ``str()`` prints it
    every time), anything else 1. Computed without recursion, each distinct container once,
    stopping once past ``limit``: ``[['x'] * 999999] * 999999`` is weighed in a blink."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, CONTAINERS):
        return 1
    memo: dict[int, int] = {}
    stack = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else node
        if not children_done:
            if id(node) in memo:
                continue
            memo[id(node)] = 0
            stack.append((node, True))
            stack.extend((item, False) for item in _flat(items) if isinstance(item, CONTAINERS)
                         and id(item) not in memo)
            continue
        total = len(items)
        for item in _flat(items):
            total += memo.get(id(item), 0) if isinstance(item, CONTAINERS) else \
                len(item) if isinstance(item, str) else 1
            if total > limit:
                break
        memo[id(node)] = total
    return memo[id(value)]


def _flat(items):
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], CONTAINERS):
            yield from item  # a dict's (key, value)
        else:
            yield item


def _printable(value):
    """The environment's ``finalize``: a ``{{ value }}`` whose text would pass MAX_OUTPUT is
    refused before ``str()`` builds it."""
    if isinstance(value, CONTAINERS) and _weight(value) > MAX_OUTPUT:
        raise OutputTooLarge()
    return value


def _format_args_fit(template, args) -> None:
    # "%1000000000s" or "%*s" % (10**9, "") would pad to a gigabyte before any check.
    for width, precision in _FORMAT_WIDTHS.findall(template):
        if int(width or 0) > MAX_OUTPUT or int(precision or 0) > MAX_OUTPUT:
            raise OutputTooLarge()
    for arg in args if isinstance(args, tuple) else (args,):
        if isinstance(arg, int) and arg > MAX_OUTPUT:
            raise OutputTooLarge()
        _printable(arg)


def _capped_join(pieces) -> str:
    """Environment.concat: joins a template's (or a macro's) output, refusing it when it grows
    past MAX_OUTPUT, before the whole of it is in memory."""
    kept, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_OUTPUT:
            raise OutputTooLarge()
        kept.append(piece)
    return "".join(kept)


def _predicted_size(name: str, value, args, kwargs) -> int:
    """What a filter that can grow its input would make, known before it runs."""
    if name == "join" and isinstance(value, list | tuple):
        sep = args[0] if args else kwargs.get("d", "")
        return _weight(value) + len(str(sep)) * max(len(value) - 1, 0)
    if name == "sum" and isinstance(value, list | tuple):
        return _weight(value)
    if name not in ("center", "indent", "wordwrap", "replace"):
        return 0
    # str() of a list could itself be huge: only what is small enough is turned into text.
    if not isinstance(value, str | int | float | None.__class__):
        if isinstance(value, list | tuple | dict) and len(value) > 1000:
            return MAX_OUTPUT + 1
    text = value if isinstance(value, str) else str(value)
    if name == "center":
        return max(len(text), int(args[0] if args else kwargs.get("width", 80)))
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        width = len(width) if isinstance(width, str) else int(width)
        return len(text) + width * (text.count("\n") + 1)
    if name == "wordwrap":
        width = max(int(args[0] if args else kwargs.get("width", 79)), 1)
        wrap = (args[2] if len(args) > 2 else kwargs.get("wrapstring")) or "\n"
        return len(text) + (len(text) // width + 1) * len(wrap)
    if name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        times = text.count(old) if old else len(text) + 1
        return len(text) + times * max(len(new) - len(old), 0)
    return 0


# Filters that only look at a container's length or take items as they are.
SHALLOW_FILTERS = {"length", "count", "first", "last", "list", "batch", "slice", "reverse",
                   "random", "default", "d", "join", "sum"}


def _capped_filter(name: str, func):
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context, pass_environment, …)
    def capped(*args, **kwargs):
        _tick()
        # Filters that take the context or environment get it first; the value comes next.
        passed = 1 if getattr(func, "jinja_pass_arg", None) else 0
        value, rest = (args[passed], args[passed + 1:]) if len(args) > passed else (None, ())
        if _predicted_size(name, value, rest, kwargs) > MAX_OUTPUT:
            raise OutputTooLarge()
        if name not in SHALLOW_FILTERS:  # filters that print, compare or copy items deeply
            _printable(value)
        if name == "format" and isinstance(value, str):
            _format_args_fit(value, rest)
        return _checked(func(*args, **kwargs))

    return capped


class _CappedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` so that its result is size-checked (it is no binary operator the
    sandbox can intercept, and a macro doubling a string through it would otherwise reach
    a gigabyte in thirty calls)."""

    def visit_Concat(self, node, frame):  # noqa: N802 (Jinja's visitor name)
        self.write("environment.checked(")
        node.nodes = [  # each operand weighed before str() prints it
            nodes.Call(nodes.EnvironmentAttribute("printable"), [operand], [], None, None,
                       lineno=operand.lineno)
            for operand in node.nodes
        ]
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_For(self, node, frame):  # noqa: N802
        """Loops step through ``environment.budgeted``: each step checks the clock, so
        nested ``range`` loops with an empty body cannot run for half an hour."""
        if not (isinstance(node.iter, nodes.Call)
                and isinstance(node.iter.node, nodes.EnvironmentAttribute)
                and node.iter.node.name == "budgeted"):
            node.iter = nodes.Call(nodes.EnvironmentAttribute("budgeted"), [node.iter], [],
                                   None, None, lineno=node.lineno)
        super().visit_For(node, frame)


class CappedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox that also refuses output past MAX_OUTPUT: ``'x' * 10**9``,
    ``10 ** 10 ** 9``, ``'%1000000000s'``, a growing filter, a loop or a macro that adds up
    (``range`` is already limited to 100,000 items by Jinja's sandbox)."""

    # Intercepted operators are also never folded at compile time, where they would blow
    # up before any render.
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CappedCodeGenerator

    def __init__(self, **options):
        super().__init__(**options)
        self.concat = _capped_join
        self.filters = {name: _capped_filter(name, func) for name, func in self.filters.items()}
        # lipsum(10**6) is a megabyte of words, and no placeholder; the rest are harmless.
        self.globals.pop("lipsum", None)

    checked = staticmethod(_checked)
    budgeted = staticmethod(_Budgeted)
    printable = staticmethod(_printable)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        """Every call the template makes: the clock, the macro depth, and str methods that
        would pass MAX_OUTPUT refused before they allocate."""
        _tick()
        # str.format comes wrapped by the sandbox; the bound method is its __wrapped__.
        method = getattr(__obj, "__wrapped__", __obj)
        owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
        if isinstance(owner, str) and name in SIZED_METHODS:
            if name == "format_map" and args and isinstance(args[0], dict):
                args, kwargs = (), args[0]
            if _method_size(name, owner, args, kwargs) > MAX_OUTPUT:
                raise OutputTooLarge()
        _clock.depth += 1
        try:
            if _clock.depth > MAX_CALL_DEPTH:
                raise TooDeep()
            return _checked(super().call(__context, __obj, *args, **kwargs))
        finally:
            _clock.depth -= 1

    def getattr(self, obj, attribute):
        """Attribute lookups check the clock too."""
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        """Item lookups check the clock too."""
        _tick()
        return super().getitem(obj, argument)

    def call_unop(self, context, operator, arg):
        """Unary operators check the clock too."""
        _tick()
        return super().call_unop(context, operator, arg)

    def call_binop(self, context, operator, left, right):
        """Refuse what would be too large before computing it, check the result after."""
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _sequence(seq) and isinstance(times, int) and times > 0 \
                        and _weight(seq) * times > MAX_OUTPUT:
                    raise OutputTooLarge()
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and abs(left).bit_length() * right > MAX_INT_BITS:
                raise OutputTooLarge(TOO_BIG_A_NUMBER)
        elif operator == "%" and isinstance(left, str):
            _format_args_fit(left, right)
        return _checked(super().call_binop(context, operator, left, right))


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox every user template runs in: autoescaped, no attribute escapes, output
    capped at MAX_OUTPUT characters.

    An unknown placeholder renders empty (it was a warning when the template was saved).
    """
    return CappedSandbox(autoescape=True, undefined=EmptyUnlessUnsafe, finalize=_printable)


def _parse(source: str, part: str):
    try:
        return environment().parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{part}, line {exc.lineno}: {exc.message}") from None


def _unknown_placeholders(tree) -> list[str]:
    unknown = []
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in PLACEHOLDERS:
            unknown.append(name)
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name in PLACEHOLDERS:
            allowed = PLACEHOLDERS[node.node.name]
            if node.attr not in allowed:
                unknown.append(f"{node.node.name}.{node.attr}")
    return unknown


@dataclass
class TemplateCheck:
    """What a template check found: refusals raise, warnings are returned."""

    warnings: list[str] = field(default_factory=list)


def check_template(subject: str, body_html: str, body_text: str, marketing: bool) -> TemplateCheck:
    """Refuse syntax errors (with their line) and marketing mail without an unsubscribe link;
    warn about placeholders the sender does not know."""
    result = TemplateCheck()
    for part, source in (("subject", subject), ("HTML body", body_html),
                         ("text body", body_text)):
        tree = _parse(source or "", part)
        for name in _unknown_placeholders(tree):
            result.warnings.append(f"{part}: unknown placeholder {{{{ {name} }}}}")
    if marketing:
        html_tree = _parse(body_html or "", "HTML body")
        if UNSUBSCRIBE not in meta.find_undeclared_variables(html_tree):
            raise TemplateProblem(
                "HTML body: a marketing email must contain {{ unsubscribe_url }} "
                "(people must be able to opt out)"
            )
    _trial_render(subject, body_html, body_text)
    return result


SAMPLE_CONTEXT = {
    "contact": {"first_name": "Aino", "last_name": "Virtanen", "full_name": "Aino Virtanen",
                "email": "aino.virtanen@example.fi", "title": "CEO", "city": "Turku",
                "language": "fi", "phone": "+358 40 123 4567", "kind": "contact",
                "status": "active"},
    "company": {"name": "Esimerkki Oy", "city": "Turku", "country": "FI", "industry": "IT"},
    "owner": {"name": "Olli Omistaja", "email": "olli@example.fi"},
    "campaign": {"name": "Spring", "number": "2026-1"},
    "unsubscribe_url": "https://example.invalid/unsubscribe/sample",
    "registration_url": "https://example.invalid/register",
    "survey_url": "https://example.invalid/survey",
}


def _trial_render(subject: str, body_html: str, body_text: str) -> None:
    """Render once for a sample contact: a template that runs out of time, grows past the
    cap or recurses endlessly is refused on save. Other render errors depend on the
    contact's data and are left to the preview."""
    try:
        CompiledTemplate(subject, body_html, body_text).render(SAMPLE_CONTEXT)
    except TemplateProblem as exc:
        if str(exc).startswith("not allowed in a template:"):
            raise


def html_to_text(source: str) -> str:
    """A plain-text body made from HTML, for templates without a text body."""
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", source)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h\d>|</li>", "\n", text)
    text = re.sub(r"(?i)<a\s[^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", r"\2 (\1)", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


@dataclass
class Rendered:
    """One message's subject and bodies."""

    subject: str
    html: str
    text: str


class CompiledTemplate:
    """A template compiled once (per batch), rendered for many recipients.

    Each render has the time budget; a template that runs out of it once is not tried
    again (every further render fails at once with the same reason), so one slow
    template cannot stall a batch for budget × messages.
    """

    def __init__(self, subject: str, body_html: str, body_text: str,
                 budget: float | None = None):
        self.budget = budget if budget is not None else time_budget()
        self.language: str | None = None  # a variant's language (message.compiled sets it)
        self.stopped: str | None = None  # why renders are refused without trying
        try:
            html_env, text_env = environment(), environment()
            text_env.autoescape = False  # subjects and plain text are not HTML
            self.subject = text_env.from_string(subject or "")
            self.html = html_env.from_string(body_html or "")
            self.text = text_env.from_string(body_text) if body_text else None
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"line {exc.lineno}: {exc.message}") from None

    def render(self, context: dict) -> Rendered:
        """Subject and bodies for one recipient; a sandbox violation is a TemplateProblem."""
        if self.stopped:
            raise TemplateProblem(self.stopped)
        outer = _clock.deadline  # a render inside a render keeps the outer deadline
        _clock.deadline = outer or time.monotonic() + self.budget
        _clock.budget, _clock.depth = self.budget, 0
        try:
            html_out = self.html.render(context)
            text_out = self.text.render(context) if self.text else html_to_text(html_out)
            subject_out = self.subject.render(context)
        except TemplateTimeout as exc:
            self.stopped = f"not allowed in a template: {exc}"
            raise TemplateProblem(self.stopped) from None
        except RecursionError:
            raise TemplateProblem(f"not allowed in a template: {TooDeep()}") from None
        except MemoryError:
            raise TemplateProblem(f"not allowed in a template: {OutputTooLarge()}") from None
        except (SecurityError, OverflowError) as exc:
            raise TemplateProblem(f"not allowed in a template: {exc}") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"unknown placeholder: {exc.message}") from None
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # A mistake in the template ({{ contact.first_name + 1 }}, {{ 1 / 0 }}): this
            # message cannot be made, which is not the sender's crash.
            raise TemplateProblem(f"cannot render: {exc}") from None
        finally:
            _clock.deadline = outer
        return Rendered(subject=" ".join(subject_out.split()), html=html_out, text=text_out)
