"""Email templates rendered in Jinja's sandbox, and checked before they are saved.

People write templates; the sandbox makes sure a template can read the
placeholders it is given and nothing else (no attribute tricks into Python).
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, field

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

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
}  # fmt: skip
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


def _checked(value):
    """``value`` when it is of a sane size; OutputTooLarge otherwise."""
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_OUTPUT:
        raise OutputTooLarge()
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OutputTooLarge(TOO_BIG_A_NUMBER)
    return value


def _sequence(value) -> bool:
    return isinstance(value, str | list | tuple | bytes)


def _format_args_fit(template, args) -> None:
    # "%1000000000s" or "%*s" % (10**9, "") would pad to a gigabyte before any check.
    for width, precision in _FORMAT_WIDTHS.findall(template):
        if int(width or 0) > MAX_OUTPUT or int(precision or 0) > MAX_OUTPUT:
            raise OutputTooLarge()
    for arg in args if isinstance(args, tuple) else (args,):
        if isinstance(arg, int) and arg > MAX_OUTPUT:
            raise OutputTooLarge()


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


def _capped_filter(name: str, func):
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context, pass_environment, …)
    def capped(*args, **kwargs):
        # Filters that take the context or environment get it first; the value comes next.
        passed = 1 if getattr(func, "jinja_pass_arg", None) else 0
        value, rest = (args[passed], args[passed + 1:]) if len(args) > passed else (None, ())
        if _predicted_size(name, value, rest, kwargs) > MAX_OUTPUT:
            raise OutputTooLarge()
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
        super().visit_Concat(node, frame)
        self.write(")")


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

    def call_binop(self, context, operator, left, right):
        """Refuse what would be too large before computing it, check the result after."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _sequence(seq) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
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
    return CappedSandbox(autoescape=True, undefined=EmptyUnlessUnsafe)


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
                         ("text body", body_text)):  # fmt: skip
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
    return result


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
    """A template compiled once (per batch), rendered for many recipients."""

    def __init__(self, subject: str, body_html: str, body_text: str):
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
        try:
            html_out = self.html.render(context)
            text_out = self.text.render(context) if self.text else html_to_text(html_out)
            subject_out = self.subject.render(context)
        except (SecurityError, OverflowError) as exc:
            raise TemplateProblem(f"not allowed in a template: {exc}") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"unknown placeholder: {exc.message}") from None
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # A mistake in the template ({{ contact.first_name + 1 }}, {{ 1 / 0 }}): this
            # message cannot be made, which is not the sender's crash.
            raise TemplateProblem(f"cannot render: {exc}") from None
        return Rendered(subject=" ".join(subject_out.split()), html=html_out, text=text_out)


def render(subject: str, body_html: str, body_text: str, context: dict) -> Rendered:
    """Render a template once for one recipient (previews, tests)."""
    return CompiledTemplate(subject, body_html, body_text).render(context)
