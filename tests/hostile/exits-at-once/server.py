# Hostile: exits at once with status 1 after printing an error message.
# Expected: server-starts fails: "exited with status 1 after 0.0x s" and the message.
import sys

print("server: cannot open settings.ini: No such file or directory", file=sys.stderr)
sys.exit(1)
