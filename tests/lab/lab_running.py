"""Whether the lab's containers are up, for the stand-ins' lab tests (they are skipped when it is not)."""
import shutil
import subprocess


def lab_up(*hosts):
    """True when docker runs a container of every one of these names."""
    if not shutil.which("docker"):
        return False
    try:
        names = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True,
                               timeout=20).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return False
    return set(hosts) <= set(names)
