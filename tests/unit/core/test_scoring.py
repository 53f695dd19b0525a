"""What one touchpoint is worth: activity, points, signal class, seniority multiplier."""

from __future__ import annotations

import pytest

from abm.core.scoring import Activity, classify, multiplier, page_category
from tests.support.factories import account, default_model, model_with, page, touchpoint


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pricing", Activity("page:pricing", 10, "high_intent")),
        ("/plans/enterprise", Activity("page:pricing", 10, "high_intent")),
        ("/Security", Activity("page:security", 8, "high_intent")),
        ("/trust/soc2", Activity("page:security", 8, "high_intent")),
        ("/compliance", Activity("page:security", 8, "high_intent")),
        ("/request-demo", Activity("page:demo", 10, "high_intent")),
        ("/integrations/salesforce", Activity("page:integrations", 5, "web")),
        ("/docs", Activity("page:integrations", 5, "web")),
        ("/case-studies/acme", Activity("page:case_study", 5, "web")),
        ("/features", Activity("page:product", 3, "web")),
        ("/blog/why-abm", Activity("page:blog", 1, "web")),
        ("/careers", Activity("page:no_value", 0, "web")),
        ("/login", Activity("page:no_value", 0, "web")),
        ("/unsubscribe", Activity("page:no_value", 0, "web")),
        ("/", Activity("page:other", 1, "web")),
        ("/pricingx", Activity("page:other", 1, "web")),
        ("/en/pricing", Activity("page:other", 1, "web")),
        (None, Activity("page:other", 1, "web")),
    ],
    ids=[
        "pricing is 10 high-intent",
        "plans count as pricing",
        "security is 8 high-intent whatever the case",
        "trust pages count as security",
        "compliance pages count as security",
        "the demo page is high intent",
        "integrations are 5 web",
        "docs count as integrations",
        "case studies are 5 web",
        "product pages are 3 web",
        "blog posts are 1 web",
        "careers score nothing",
        "login scores nothing",
        "unsubscribe scores nothing",
        "the home page is other",
        "a longer word is not the pricing page",
        "rules are anchored at the start of the path",
        "a page without path is other",
    ],
)
def test_page_views(path: str | None, expected: Activity) -> None:
    assert classify(page(path) if path else touchpoint("Page Viewed"), default_model()) == expected


@pytest.mark.parametrize(
    ("event", "premium", "expected"),
    [
        ("Email Opened", False, Activity("Email Opened", 0, "email")),
        ("Email Link Clicked", False, Activity("Email Link Clicked", 3, "email")),
        ("Email Replied", False, Activity("Email Replied", 15, "email")),
        ("Content Downloaded", False, Activity("Content Downloaded", 10, "content")),
        ("Content Downloaded", True, Activity("Content Downloaded", 20, "content")),
        ("Webinar Registered", False, Activity("Webinar Registered", 10, "webinar")),
        ("Webinar Attended", False, Activity("Webinar Attended", 20, "webinar")),
        ("Webinar Watched On Demand", False, Activity("Webinar Watched On Demand", 10, "webinar")),
        ("Webinar Attended", True, Activity("Webinar Attended", 20, "webinar")),
        ("Ad Clicked", False, Activity("Ad Clicked", 2, "ads")),
        ("LinkedIn Ad Clicked", False, Activity("LinkedIn Ad Clicked", 2, "ads")),
        (
            "LinkedIn Connection Accepted",
            False,
            Activity("LinkedIn Connection Accepted", 3, "social"),
        ),
        ("LinkedIn Comment Posted", False, Activity("LinkedIn Comment Posted", 3, "social")),
        ("LinkedIn InMail Replied", False, Activity("LinkedIn InMail Replied", 15, "social")),
        (
            "LinkedIn Lead Gen Form Submitted",
            False,
            Activity("LinkedIn Lead Gen Form Submitted", 30, "form"),
        ),
        ("Demo Requested", False, Activity("Demo Requested", 50, "form", act_now=True)),
        (
            "Contact Sales Submitted",
            False,
            Activity("Contact Sales Submitted", 50, "form", act_now=True),
        ),
        ("Sales Meeting Held", False, Activity("Sales Meeting Held", 40, "sales")),
        ("Order Completed", False, Activity("Order Completed", 0, "web", known=False)),
        ("demo requested", False, Activity("demo requested", 0, "web", known=False)),
    ],
    ids=[
        "an email open scores 0",
        "an email click scores 3",
        "an email reply scores 15",
        "a standard download scores 10",
        "a premium download scores 20",
        "a webinar registration scores 10",
        "webinar attendance scores 20",
        "an on-demand webinar scores 10",
        "premium has no effect without premium points",
        "an ad click scores 2",
        "a LinkedIn ad click scores 2",
        "a LinkedIn connection scores 3",
        "a LinkedIn comment scores 3",
        "an InMail reply scores 15",
        "a lead-gen form scores 30",
        "a demo request scores 50 and acts now",
        "a contact-sales form scores 50 and acts now",
        "a sales meeting scores 40",
        "an unknown event scores 0 and is flagged",
        "event names are matched exactly",
    ],
)
def test_track_events(event: str, premium: bool, expected: Activity) -> None:
    assert classify(touchpoint(event, premium=premium), default_model()) == expected


def test_unknown_events_fall_back_to_the_first_class_without_a_web_class() -> None:
    data_changes = {
        "signal_classes": {"form": 90, "sales": 30},
        "url_rules": [],
        "page_categories": {"other": {"points": 1, "class": "form"}},
        "events": {},
        "mqa.intent_classes": ["form"],
    }
    model = model_with(**data_changes)
    assert classify(touchpoint("Anything"), model) == Activity("Anything", 0, "form", known=False)


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/pricing", "pricing"), ("/BLOG/x", "blog"), ("", "other"), (None, "other")],
    ids=["a rule match", "a case-insensitive match", "an empty path", "no path"],
)
def test_page_category(path: str | None, expected: str) -> None:
    assert page_category(path, default_model()) == expected


def test_the_first_matching_url_rule_wins() -> None:
    model = model_with(
        url_rules=[
            {"pattern": "^/pricing/blog", "category": "blog"},
            {"pattern": "^/pricing", "category": "pricing"},
        ]
    )
    assert page_category("/pricing/blog/post", model) == "blog"
    assert page_category("/pricing/table", model) == "pricing"


@pytest.mark.parametrize(
    ("seniority", "lifecycle", "expected"),
    [
        ("c_level", "prospect", 2.0),
        ("vp", "prospect", 1.5),
        ("director", "prospect", 1.25),
        ("manager", "prospect", 1.0),
        ("individual", "prospect", 0.5),
        ("unknown", "prospect", 1.0),
        ("student", "prospect", 0.0),
        ("astronaut", "prospect", 1.0),
        ("c_level", "customer", 2.0),
        ("c_level", "open_opportunity", 2.0),
        ("c_level", "partner", 2.0),
        ("c_level", "competitor", 0.0),
        ("manager", "competitor", 0.0),
    ],
    ids=[
        "c-level doubles",
        "vp is 1.5",
        "director is 1.25",
        "manager is 1",
        "individual halves",
        "unknown is 1",
        "students score nothing",
        "a seniority the model does not list counts as unknown",
        "customers score normally",
        "open opportunities score normally",
        "partners score normally",
        "competitors score nothing whoever it is",
        "competitor managers score nothing",
    ],
)
def test_multiplier(seniority: str, lifecycle: str, expected: float) -> None:
    tp = touchpoint(seniority=seniority, account_record=account(lifecycle=lifecycle))
    assert multiplier(tp, default_model()) == expected
