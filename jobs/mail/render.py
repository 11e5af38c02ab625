"""Email templates rendered in Jinja's sandbox, and checked before they are saved.

People write templates; the sandbox makes sure a template can read the
placeholders it is given and nothing else (no attribute tricks into Python).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, meta, nodes
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


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox every user template runs in: autoescaped, no attribute escapes.

    An unknown placeholder renders empty (it was a warning when the template was saved).
    """
    return ImmutableSandboxedEnvironment(autoescape=True, undefined=EmptyUnlessUnsafe)


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
