# Hostile: at start, prints terminal escape sequences on stderr (clear the screen, set
# the window title, move the cursor home, ring the bell) and a fake "score 100/100",
# then exits 1. Expected: server-starts fails and quotes what it printed, but no report
# format carries a control character: each is shown escaped, and nothing it printed can
# clear the instructor's screen or fake a score line.
import sys

sys.stderr.write("\x1b[2J\x1b[H\x1b]0;graded: 100/100\x07\x1b[32mscore 100/100\x1b[0m\n"
                 "\u202eevil right-to-left\n")
sys.stderr.flush()
sys.exit(1)
