"""The instructor's term, after a batch has graded the class: the grades as a file the
LMS imports (`grade export gradebook`). It grades nothing and changes no score; it reads
what the batch left in its results folder.

A room of its own rather than part of grader/batch: the batch grades and must stay
lean (it runs for hours, and imports nothing it does not need), while this reads its
results afterwards and knows about LMSs and rosters.

    from grader.term import load_roster, export_gradebook
"""

from .gradebook import FORMATS, MISSING, GradebookExport, export_gradebook, save_gradebook
from .roster import Roster, RosterEntry, load_roster

__all__ = ["FORMATS", "MISSING", "GradebookExport", "Roster", "RosterEntry",
           "export_gradebook", "load_roster", "save_gradebook"]
