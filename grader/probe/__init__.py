"""The grader's probe: trio code that runs inside the pod, beside the student's programs.

This package imports nothing from the rest of the grader and uses only relative imports,
so it can be copied into a container as it is (see grader.pod.probe_bundle).
"""
