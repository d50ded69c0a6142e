# Hostile: named like `sortedcontainers`, which the grader's probe imports; see shadow_note.py.
import shadow_note

shadow_note.caught(__name__)
