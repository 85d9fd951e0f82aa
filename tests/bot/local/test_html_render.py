"""Local web chat render: a Reply as an HTML fragment, every element kind, and no way to inject."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import get_args
from unicodedata import category

import pytest

from bot.local.render import markdown, render, user_message
from handlers.chat import Button, Divider, Element, Fields, Form, Input, Reply, Text
from handlers.help import HELP

TAGS = {
    "div", "p", "br", "ul", "li", "strong", "em", "code", "a", "hr", "dl", "dt", "dd",
    "span", "button", "form", "label", "input", "textarea",
}  # fmt: skip
VOID = {"br", "hr", "input"}
ATTRIBUTES = {
    "class", "dir", "href", "target", "rel", "type", "name", "value", "rows", "required",
    "disabled", "data-action", "data-value", "data-form", "data-status",
}  # fmt: skip
NEW_TAB = ' target="_blank" rel="noopener noreferrer"'


class Page(HTMLParser):
    """Parse a fragment; keep its tags, attributes, text and nesting depth; check it is balanced."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.depth = 0
        self.problems: list[str] = []
        self.feed(fragment)
        self.close()
        if self.open:
            self.problems.append(f"unclosed {self.open}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag not in VOID:
            self.open.append(tag)
            self.depth = max(self.depth, len(self.open))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"misnested </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("unknown declaration")

    @property
    def visible(self) -> str:
        return "".join(self.text)

    def values(self, name: str) -> list[str]:
        return [value for attribute, value in self.attributes if attribute == name]


def safe(fragment: str) -> Page:
    """Parse a fragment and assert it holds only allowed, balanced markup and safe links."""
    page = Page(fragment)
    assert not page.problems, page.problems
    assert set(page.tags) <= TAGS, set(page.tags) - TAGS
    names = {name for name, _ in page.attributes}
    assert names <= ATTRIBUTES, names - ATTRIBUTES
    assert "<script" not in fragment.lower()
    for href in page.values("href"):
        assert href.startswith(("https://", "http://", "mailto:", "/")), href
        assert not href.startswith(("//", "/\\")), href
    return page


# Elements


def test_text_is_a_paragraph_in_a_reply_card() -> None:
    html = render(Reply.of(Text("Hello *world*")))

    assert html == '<div class="reply"><p dir="auto">Hello <strong>world</strong></p></div>'


def test_empty_reply_is_an_empty_card() -> None:
    assert render(Reply.of()) == '<div class="reply"></div>'


def test_fields_are_a_definition_list_grid() -> None:
    html = render(Reply.of(Fields((("Type", "AAR"), ("Mission", "MINUSCA")))))

    assert html == (
        '<div class="reply"><dl class="fields">'
        '<div class="field"><dt>Type</dt><dd dir="auto">AAR</dd></div>'
        '<div class="field"><dt>Mission</dt><dd dir="auto">MINUSCA</dd></div>'
        "</dl></div>"
    )


def test_field_value_keeps_inline_formatting_and_line_breaks() -> None:
    html = render(Reply.of(Fields((("Source", "[AAR 7](https://x.example/7)\n*draft*"),))))

    assert (
        '<dd dir="auto"><a href="https://x.example/7"'
        + NEW_TAB
        + ">AAR 7</a><br><strong>draft</strong></dd>"
    ) in html


@pytest.mark.parametrize(
    ("value", "status"),
    [("● applied", "applied"), ("◔ identified", "identified"), ("in_progress", "in_progress")],
)
def test_known_status_field_is_a_badge(value: str, status: str) -> None:
    html = render(Reply.of(Fields((("Status", value),))))

    assert f'<dd dir="auto"><span class="badge" data-status="{status}">{value}</span></dd>' in html


@pytest.mark.parametrize(
    ("label", "value"), [("Type", "applied"), ("Status", "on fire"), ("Status", "")]
)
def test_other_fields_are_not_badges(label: str, value: str) -> None:
    assert "badge" not in render(Reply.of(Fields(((label, value),))))


def test_button_carries_its_action_and_value() -> None:
    html = render(Reply.of(Button("Helpful", "ask.helpful", "42")))

    assert html == (
        '<div class="reply"><div class="actions">'
        '<button type="button" class="btn" data-action="ask.helpful" data-value="42">'
        "Helpful</button></div></div>"
    )


def test_button_with_url_is_a_link_opening_a_new_tab() -> None:
    html = render(Reply.of(Button("Open", "lesson.open", "7", url="https://x.example/l/7")))

    assert html == (
        '<div class="reply"><div class="actions">'
        f'<a class="btn" href="https://x.example/l/7"{NEW_TAB}>Open</a></div></div>'
    )


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "//evil.example", " https://x.example"]
)
def test_button_with_unsafe_url_is_a_disabled_button(url: str) -> None:
    html = render(Reply.of(Button("Open", "lesson.open", url=url)))

    assert '<button type="button" class="btn" disabled>Open</button>' in html
    assert "href" not in html


def test_form_has_its_id_title_inputs_and_submit() -> None:
    form = Form(
        "aar.start",
        "Start an AAR",
        (
            Input("event", "Event", initial="Convoy"),
            Input("expected", "What was expected?", multiline=True),
            Input("notes", "Notes", optional=True),
        ),
        submit="Start",
    )

    assert render(Reply.of(form)) == (
        '<div class="reply"><form class="reply-form" data-form="aar.start">'
        '<div class="form-title">Start an AAR</div>'
        '<label class="input"><span class="input-label">Event</span>'
        '<input type="text" name="event" value="Convoy" required></label>'
        '<label class="input"><span class="input-label">What was expected?</span>'
        '<textarea name="expected" rows="4" required></textarea></label>'
        '<label class="input"><span class="input-label">Notes'
        ' <span class="optional">(optional)</span></span>'
        '<input type="text" name="notes" value=""></label>'
        '<button type="submit" class="btn primary">Start</button>'
        "</form></div>"
    )


def test_a_label_that_says_optional_is_not_told_twice_and_errors_sit_beside_inputs() -> None:
    form = Form(
        "f",
        "T",
        (
            Input("why", "Why it moves (optional)", optional=True),
            Input("due", "Due", initial="someday", error="I couldn't read 'someday' as a date."),
        ),
    )
    html = render(Reply.of(form))
    assert html.count("optional") == 1
    assert (
        '<input type="text" name="due" value="someday" required>'
        '<span class="input-error" role="alert">I couldn&#x27;t read &#x27;someday&#x27; as a '
        "date.</span>"
    ) in html


def test_textarea_keeps_a_leading_newline_of_its_initial_value() -> None:
    form = Form("f", "T", (Input("n", "N", multiline=True, initial="\nsecond line"),))

    assert '<textarea name="n" rows="4" required>\n\nsecond line</textarea>' in render(
        Reply.of(form)
    )


def test_divider_is_a_rule() -> None:
    assert render(Reply.of(Text("a"), Divider(), Text("b"))) == (
        '<div class="reply"><p dir="auto">a</p><hr><p dir="auto">b</p></div>'
    )


def test_reply_with_every_element_type_is_balanced() -> None:
    elements: tuple[Element, ...] = (
        Text("*Here is* [one](https://x.example/1):"),
        Divider(),
        Fields((("Type", "AAR"), ("Status", "● applied"))),
        Button("Helpful", "ask.helpful", "1"),
        Button("Not helpful", "ask.not_helpful", "1"),
        Form("aar.start", "Start an AAR", (Input("expected", "What was expected?"),)),
        Divider(),
        Button("Show more", "ask.more", "q"),
    )
    # a new element type added to handlers.chat must be added here (and to render)
    assert {type(e) for e in elements} == set(get_args(Element))

    page = safe(render(Reply.of(*elements)))

    assert page.tags.count("hr") == 2
    assert page.tags.count("form") == 1
    assert page.values("data-action") == ["ask.helpful", "ask.not_helpful", "ask.more"]


# Button rows and private replies


def test_adjacent_buttons_share_one_row() -> None:
    html = render(Reply.of(Button("Helpful", "ask.helpful", "3"), Button("No", "ask.no", "3")))

    assert html.count('<div class="actions">') == 1
    assert 'data-value="3">Helpful</button><button type="button"' in html


def test_buttons_separated_by_text_are_separate_rows() -> None:
    reply = Reply.of(Button("A", "x.a"), Text("between"), Button("B", "x.b"), Button("C", "x.c"))

    assert render(reply) == (
        '<div class="reply">'
        '<div class="actions"><button type="button" class="btn" data-action="x.a" data-value="">'
        "A</button></div>"
        '<p dir="auto">between</p>'
        '<div class="actions"><button type="button" class="btn" data-action="x.b" data-value="">'
        'B</button><button type="button" class="btn" data-action="x.c" data-value="">'
        "C</button></div>"
        "</div>"
    )


def test_link_buttons_and_action_buttons_share_a_row() -> None:
    reply = Reply.of(Button("Done", "action.done", "1"), Button("Open", "x", url="/actions/1"))

    html = render(reply)

    assert html.count('<div class="actions">') == 1
    assert '<a class="btn" href="/actions/1"' in html


def test_private_reply_is_marked_and_says_so() -> None:
    html = render(Reply.of(Text("Only for you"), private=True))

    assert html == (
        '<div class="reply private"><div class="private-note">Only you can see this</div>'
        '<p dir="auto">Only for you</p></div>'
    )


def test_public_reply_has_no_private_note() -> None:
    assert "private" not in render(Reply.of(Text("For everyone")))


def test_lesson_card_shape() -> None:
    reply = Reply.of(
        Text("*[Convoy AAR](https://lessons.example/aar/7)*\nVet suppliers early."),
        Fields((("Type", "AAR"), ("Status", "◑ validated"))),
        Button("Helpful", "ask.helpful", "7"),
        Button("Not helpful", "ask.not_helpful", "7"),
    )

    html = render(reply)

    assert html.startswith(
        '<div class="reply"><p dir="auto"><strong><a href="https://lessons.example/aar/7"'
        f"{NEW_TAB}>Convoy AAR</a></strong><br>Vet suppliers early.</p>"
    )
    assert '<span class="badge" data-status="validated">◑ validated</span>' in html
    assert html.endswith("Not helpful</button></div></div>")


# Markdown


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*bold*", "<strong>bold</strong>"),
        ("**bold**", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("`code`", "<code>code</code>"),
        ("a *b c* d", "a <strong>b c</strong> d"),
        ("*bold _and italic_*", "<strong>bold <em>and italic</em></strong>"),
        ("_italic *and bold*_", "<em>italic <strong>and bold</strong></em>"),
        ("(*in brackets*)", "(<strong>in brackets</strong>)"),
        ("*don't*", "<strong>don&#x27;t</strong>"),
        ('"*quoted*"', "&quot;<strong>quoted</strong>&quot;"),
        ("`*not* _formatted_`", "<code>*not* _formatted_</code>"),
        ("*a `b*` c*", "<strong>a <code>b*</code> c</strong>"),
        ("[label](https://x.example/a?b=1&c=2)",
         f'<a href="https://x.example/a?b=1&amp;c=2"{NEW_TAB}>label</a>'),
        ("[label](http://x.example)", f'<a href="http://x.example"{NEW_TAB}>label</a>'),
        ("[label](/lessons/7)", '<a href="/lessons/7">label</a>'),
        ("[mail](mailto:pbpo@un.example)", '<a href="mailto:pbpo@un.example">mail</a>'),
        ("[HTTPS](HTTPS://x.example)", f'<a href="HTTPS://x.example"{NEW_TAB}>HTTPS</a>'),
        ("*[title](https://x.example)*",
         f'<strong><a href="https://x.example"{NEW_TAB}>title</a></strong>'),
        ("[*title*](https://x.example)",
         f'<a href="https://x.example"{NEW_TAB}><strong>title</strong></a>'),
        ("[a [b] c](/x)", "[a [b] c](/x)"),
        ("[a](/x) and [b](/y)", '<a href="/x">a</a> and <a href="/y">b</a>'),
        ("[a `]` b](/x)", '<a href="/x">a <code>]</code> b</a>'),
        ("snake_case_name", "snake_case_name"),
        ("file_name_ here", "file_name_ here"),
        ("2*3* times", "2*3* times"),
        ("__init__", "__init__"),
        ("2*3*4", "2*3*4"),
        ("a * b * c", "a * b * c"),
        ("***both***", "***both***"),
        ("*unclosed", "*unclosed"),
        ("**a*", "**a*"),
        ("*a*b", "*a*b"),
        ("*a **b** c*", "<strong>a **b** c</strong>"),
        ("`unclosed", "`unclosed"),
        ("``", "``"),
        ("[no link]", "[no link]"),
        ("[a](b c)", "[a](b c)"),
        ("[](https://x.example)", "[](https://x.example)"),
        ("[a]()", "[a]()"),
        ("[a] (https://x.example)", "[a] (https://x.example)"),
        ("[a](https://x.example", "[a](https://x.example"),
        ("[a](relative/path)", "[a](relative/path)"),
        ("[a](#top)", "[a](#top)"),
        ("[a](//evil.example)", "[a](//evil.example)"),
        ("[a](ftp://x.example)", "[a](ftp://x.example)"),
    ],
)  # fmt: skip
def test_inline_formatting(source: str, expected: str) -> None:
    assert markdown(source) == f'<p dir="auto">{expected}</p>'


def test_line_breaks_and_paragraphs() -> None:
    assert markdown("one\ntwo\n\nthree\r\nfour") == (
        '<p dir="auto">one<br>two</p><p dir="auto">three<br>four</p>'
    )


def test_bullets_of_every_kind_are_one_list() -> None:
    assert markdown("Steps:\n• first\n- *second*\n  * third\nAfter") == (
        '<p dir="auto">Steps:</p>'
        '<ul><li dir="auto">first</li><li dir="auto"><strong>second</strong></li>'
        '<li dir="auto">third</li></ul>'
        '<p dir="auto">After</p>'
    )


@pytest.mark.parametrize("source", ["-not a bullet", "*bold* line", "•", "-", "2 - 1"])
def test_lines_that_are_not_bullets(source: str) -> None:
    assert "<ul>" not in markdown(source)


def test_empty_and_blank_text_render_nothing() -> None:
    assert markdown("") == ""
    assert markdown(" \n\t\n") == ""


def test_help_text_renders_as_bold_heading_and_bullets() -> None:
    page = safe(markdown(HELP))

    assert markdown(HELP).startswith('<p dir="auto"><strong>Lessons Bot</strong> helps')
    assert page.tags.count("li") == HELP.count("\n•") + HELP.startswith("•")
    assert "*" not in page.visible


# Unicode and control characters


def test_right_to_left_text_and_emoji_survive() -> None:
    text = "دروس مستفادة 👩🏽‍💻 עברית"

    assert markdown(text) == f'<p dir="auto">{text}</p>'


def test_control_characters_and_bidi_overrides_are_removed() -> None:
    assert markdown("a\x00b\x07c\u202ed\u2066e\x7ff\x85g") == '<p dir="auto">abcdefg</p>'


def test_zero_width_joiners_are_kept() -> None:
    assert markdown("a\u200db\u200cc") == '<p dir="auto">a\u200db\u200cc</p>'


def test_lone_surrogate_is_replaced_so_the_page_can_be_encoded() -> None:
    html = render(Reply.of(Text("bad \ud800 char"), Fields((("\udfff", "x"),))))

    assert "\ufffd" in html
    html.encode("utf-8")


# User messages


def test_user_message_is_escaped_with_line_breaks() -> None:
    assert user_message("<b>hi</b> & *you*\r\nbye") == (
        '<div class="user-message" dir="auto">&lt;b&gt;hi&lt;/b&gt; &amp; *you*<br>bye</div>'
    )


# Escaping: hostile text through every place text can go

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)' x='",
    '" onfocus="alert(1)" autofocus="',
    "</textarea><script>alert(1)</script>",
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src=//evil.example></iframe>",
    "<style>*{display:none}</style>",
    "<!-- comment --><!DOCTYPE html><?php x ?>",
    "&lt;script&gt; &amp; &#60;img&#62;",
    "\u202e\x00<img src=x onerror=alert(1)>\u200b",
    "*<b>bold</b>* _<i>it</i>_ `<code>`",
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    '[x](https://ok.example/"onmouseover="alert(1))',
    "[x](https://ok.example/'><script>alert(1)</script>)",
]

HOSTILE_LINKS = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x]( javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](\x00javascript:alert(1))",
    "[x](//evil.example)",
    "[x](/\\evil.example)",
    "[x](http\u017f://evil.example)",  # a long s, which casefolds to s
]


BIDI_CONTROLS = {chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def cleaned(text: str) -> str:
    """Return text as it should reach the page: without control and bidi override characters."""
    return "".join(
        c for c in text if c in "\n\t" or (category(c) != "Cc" and c not in BIDI_CONTROLS)
    )


def test_the_safety_check_rejects_injected_markup() -> None:
    # the checks below are only worth something if they can fail
    for bad in [
        '<div class="reply"><script>alert(1)</script></div>',
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<button data-value="x" onmouseover="alert(1)">x</button>',
        "<p><strong>unbalanced</p></strong>",
    ]:
        with pytest.raises(AssertionError):
            safe(bad)


@pytest.mark.parametrize("payload", HOSTILE + HOSTILE_LINKS)
def test_hostile_text_is_shown_not_run(payload: str) -> None:
    page = safe(render(Reply.of(Text(payload))))

    shown = page.visible + " ".join(value for _, value in page.attributes)
    for fragment in ("<script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)"):
        if fragment in payload and "`" not in payload:
            assert fragment in shown  # as text, or inside a safe href


@pytest.mark.parametrize("payload", HOSTILE_LINKS)
def test_unsafe_links_are_plain_text(payload: str) -> None:
    page = safe(markdown(payload))

    assert "a" not in page.tags
    assert page.visible == cleaned(payload)


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_user_message_is_shown_verbatim(payload: str) -> None:
    page = safe(user_message(payload))

    assert page.tags == ["div"]
    assert page.visible == cleaned(payload)


@pytest.mark.parametrize("payload", HOSTILE + HOSTILE_LINKS)
def test_hostile_fields(payload: str) -> None:
    page = safe(render(Reply.of(Fields(((payload, payload), ("Status", payload))))))

    assert page.visible.startswith(cleaned(payload))


@pytest.mark.parametrize("payload", HOSTILE + HOSTILE_LINKS)
def test_hostile_button_label_action_and_value(payload: str) -> None:
    page = safe(render(Reply.of(Button(payload, payload, payload))))

    assert page.visible == cleaned(payload)
    assert page.values("data-action") == [cleaned(payload)]
    assert page.values("data-value") == [cleaned(payload)]


@pytest.mark.parametrize("payload", HOSTILE + HOSTILE_LINKS)
def test_hostile_button_url(payload: str) -> None:
    page = safe(render(Reply.of(Button("Open", "x.open", url=payload))))

    assert page.values("href") == []


@pytest.mark.parametrize("url", ['https://ok.example/"onmouseover="alert(1)', "/a'><b>"])
def test_button_url_cannot_break_out_of_href(url: str) -> None:
    page = safe(render(Reply.of(Button("Open", "x.open", url=url))))

    assert page.values("href") == [url]


@pytest.mark.parametrize("payload", HOSTILE + HOSTILE_LINKS)
def test_hostile_form(payload: str) -> None:
    form = Form(
        payload,
        payload,
        (Input(payload, payload, initial=payload), Input(payload, payload, True, payload)),
        submit=payload,
    )

    page = safe(render(Reply.of(form)))

    text = cleaned(payload)
    assert page.values("data-form") == [text]
    assert page.values("name") == [text, text]
    assert page.values("value") == [text]
    assert page.visible.count(text) == 5  # title, two labels, the textarea and submit


# Huge and pathological input


@pytest.mark.parametrize(
    "unit",
    [
        "*_*_[",
        "[a](",
        "*a ",
        "_a_",
        "**",
        "`*",
        "[*_](",
        "](",
        "*<script>_[x](javascript:",
        "[*a*](/x)*b _c [d](/e)_*",
    ],
)
def test_ten_thousand_characters_of_markers(unit: str) -> None:
    source = (unit * (10_000 // len(unit) + 1))[:10_000]

    page = safe(markdown(source))

    # each kind of formatting nests at most once: p > strong > em > a > code
    assert page.depth <= 5
    assert len(page.visible) > 0


def test_ten_thousand_lines_of_bullets() -> None:
    page = safe(markdown("• *a* _b_\n" * 10_000))

    assert page.tags.count("li") == 10_000


def test_folded_fields_are_a_details_disclosure() -> None:
    """A lesson card's details (issue 20): a <details> element, closed, no script needed."""
    html = render(Reply.of(Text("x"), Fields((("Type", "AAR <b>"),), folded=True)))

    assert '<details class="details"><summary>Details</summary><dl class="fields">' in html
    assert "AAR &lt;b&gt;" in html and "<details open" not in html
