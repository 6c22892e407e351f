"""The work-order guard: cited pages parsed, only found pages that exist accepted, text after the signature cut."""

from __future__ import annotations

from multimodal_crew.flows.workorder import check_email, cited_pages


def test_cited_pages_are_parsed():
    text = "Please fix the sensors (p. 2) and the drains (contract.pdf, p. 3); see also pages 4, and pp. 5-6."
    assert cited_pages(text) == [("", 2), ("contract.pdf", 3), ("", 5), ("", 6)]


def test_the_guard_accepts_only_found_pages_that_exist():
    found = {("contract.pdf", 2), ("contract.pdf", 3)}

    def exists(f, p):
        return f == "contract.pdf" and p in (1, 2, 3)

    assert check_email("Replace the sensors (p. 2). Clear drains (contract.pdf, p. 3).", found, exists) == []
    assert check_email("Fix it (p. 1).", found, exists) == ["p. 1 was not among the pages the research found"]
    assert check_email("Fix it (contract.pdf, p. 9).", found, exists)
    assert check_email("Fix it soon.", found, exists)[0].startswith("the email cites no page")


def test_text_after_the_signature_is_cut():
    from multimodal_crew.flows.workorder import trim_after_signature

    email = "Hi,\nFix it (p. 2).\nDana Lee\n\nProblems: ... ends with the signature Dana Lee. (p. 1)"
    assert trim_after_signature(email, "Dana Lee") == "Hi,\nFix it (p. 2).\nDana Lee"
