"""Risk queue (issue 17): fraud signals from the facts as they arrive, cases that hold the money
they concern, and the decisions Compliance and Finance take on them. See docs/business-rules.md
"Risk queue"."""
