"""`kubelite chaos`: faults injected into a running lab, with invariants checked and a report."""
