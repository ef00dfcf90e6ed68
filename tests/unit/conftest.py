"""Make the repository importable as ansible_collections.chefops.chef_ha for the unit tests.

The repository root is the collection root; a temporary ansible_collections/chefops/chef_ha symlink to it is put
on sys.path. Nothing else is changed, so tests under other directories run as before.
"""

import atexit
import os
import shutil
import sys
import tempfile

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _expose_collection():
    try:
        import ansible_collections.chefops.chef_ha.plugins.module_utils  # noqa: F401 pylint: disable=unused-import
        return
    except ImportError:
        pass
    base = tempfile.mkdtemp(prefix='chefops-unit-')
    atexit.register(shutil.rmtree, base, True)
    namespace = os.path.join(base, 'ansible_collections', 'chefops')
    os.makedirs(namespace)
    os.symlink(COLLECTION_ROOT, os.path.join(namespace, 'chef_ha'))
    sys.path.insert(0, base)


_expose_collection()
