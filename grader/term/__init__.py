"""The instructor's term, after a batch has graded the class: the grades as a file the
LMS imports (`grade export gradebook`), and pairs of submissions whose code is
suspiciously similar. Neither grades anything nor changes a score; both read what the
batch left (the results folder, the submission folders).

A room of its own rather than part of grader/batch: the batch grades, while these read
what it left afterwards, know about LMSs and rosters, and one of them needs an optional
dependency (copydetect, `pip install socket-grader[term]`), imported only when used, so
neither `grade` nor the batch's own process ever loads it: the batch compares a class in
a process of its own (similarity_job.py).

    from grader.term import load_roster, export_gradebook, find_similar
"""

from .gradebook import FORMATS, MISSING, GradebookExport, export_gradebook, save_gradebook
from .roster import Roster, RosterEntry, load_roster
from .similarity import Passage, SimilarityReport, SimilarPair, find_similar, similarity_csv
from .similarity_html import SIMILARITY_STYLE, similarity_section

__all__ = ["FORMATS", "MISSING", "SIMILARITY_STYLE", "GradebookExport", "Passage", "Roster",
           "RosterEntry", "SimilarPair", "SimilarityReport", "export_gradebook",
           "find_similar", "load_roster", "save_gradebook", "similarity_csv",
           "similarity_section"]
