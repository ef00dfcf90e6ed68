# -*- coding: utf-8 -*-
# Copyright: chefops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private HTTP(S) client of the Chef Waiter agent's API, parsers of its answers, and one run followed to its end.

The parsers are pure functions; the client sends its requests through its own urllib opener; RunWatch holds what
chef_waiter_run and chef_waiter_batch_run share, so one run ends the same way in both.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import time

from email.utils import mktime_tz, parsedate_tz

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.common.text.converters import to_native, to_text
from ansible_collections.chefops.chef_ha.plugins.module_utils._url_opener import UrlOpener

# Statuses a run never leaves (unknown and abandoned are set when the agent restarted during the run).
FINAL_STATUSES = ('complete', 'failed', 'unknown', 'abandoned')
MAX_RUN_LIST_BYTES = 512  # the agent reads one request body of at most 512 bytes
_INTERVAL_RE = re.compile(r'^\s*(-?\d+)\s+minutes?\s*$')
# Go's time.Time.String(): "2006-01-02 15:04:05[.fraction] -0700 MST"
_GO_TIME_RE = re.compile(r'^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d+)? ([+-])(\d\d)(\d\d)(?: \S+)?')


def chef_waiter_argument_spec():
    """Connection options shared by the Chef Waiter modules (doc fragment chefops.chef_ha.chef_waiter)."""
    return dict(
        url=dict(type='str'),
        host=dict(type='str', default='localhost'),
        port=dict(type='int', default=8901),
        use_tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='int', default=10),
    )


class ChefWaiterError(Exception):
    """A request that failed: no answer, an unexpected HTTP status or an answer that cannot be parsed.

    `transient` is true when the agent may answer the same request a moment later: no answer at all (refused,
    reset, timed out) or an HTTP 5xx, as while the agent or the host is busy loading chef-client.
    """

    def __init__(self, msg, status=None, body=None, url=None, transient=False):
        super(ChefWaiterError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.body = body
        self.url = url
        self.transient = transient

    def details(self):
        """Extra keys for fail_json."""
        out = dict(url=self.url)
        if self.status is not None:
            out['http_status'] = self.status
        if self.body is not None:
            out['body'] = self.body
        return out


class Response(object):
    def __init__(self, status, body, date=None, url=None):
        self.status = status
        self.body = body
        self.date = date  # the agent's clock (HTTP Date header) as an epoch, when it sent one
        self.url = url


def base_url(params):
    if params.get('url'):
        return params['url'].rstrip('/')
    host = params.get('host') or 'localhost'
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    scheme = 'https' if params.get('use_tls') else 'http'
    return '%s://%s:%d' % (scheme, host, params.get('port') or 8901)


def header_epoch(value):
    if not value:
        return None
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    return mktime_tz(parsed)


def error_text(body):
    """The agent's own refusal: the Error field of its JSON answer, else the raw body."""
    text = to_text(body or '', errors='surrogate_or_strict').strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict) and isinstance(doc.get('Error'), str):
        return doc['Error']
    return text


def parse_json(body, what):
    try:
        return json.loads(to_text(body, errors='surrogate_or_strict'))
    except ValueError:
        raise ChefWaiterError('the agent answered %s with something that is not JSON: %r' % (what, body[:200]),
                              body=body)


def _field(doc, key, kind, what):
    if not isinstance(doc, dict) or key not in doc or not isinstance(doc[key], kind):
        raise ChefWaiterError('unexpected answer to %s: %r' % (what, doc))
    return doc[key]


def parse_lock(body):
    """GET /chef/lock (and set/remove): {"Locked": true} -> True."""
    return _field(parse_json(body, '/chef/lock'), 'Locked', bool, '/chef/lock')


def parse_enabled(body):
    """GET /chef/enabled, /chef/on, /chef/off: {"chef_runs_enabled":true} -> True."""
    return _field(parse_json(body, '/chef/enabled'), 'chef_runs_enabled', bool, '/chef/enabled')


def parse_interval(body):
    """GET /chef/interval: {"current_interval":"30 minutes"} -> 30."""
    text = _field(parse_json(body, '/chef/interval'), 'current_interval', str, '/chef/interval')
    match = _INTERVAL_RE.match(text)
    if not match:
        raise ChefWaiterError('unexpected interval in the answer to /chef/interval: %r' % text, body=body)
    return int(match.group(1))


def go_time_epoch(text):
    """Epoch of a Go time.Time.String() such as "2026-11-21 01:30:00 +0000 UTC"; None if it does not parse."""
    match = _GO_TIME_RE.match(text or '')
    if not match:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = (int(off_h) * 3600 + int(off_m) * 60) * (-1 if sign == '-' else 1)
    # Days since the epoch of a proleptic Gregorian date, without the local time zone getting involved.
    y, m = int(year), int(month)
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + int(day) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second) - offset


def parse_maintenance(body):
    """GET /chef/maintenance -> dict(in_maintenance, end_time, end_epoch)."""
    doc = parse_json(body, '/chef/maintenance')
    active = _field(doc, 'in_maintenance', bool, '/chef/maintenance')
    end_time = _field(doc, 'end_time', str, '/chef/maintenance')
    return dict(in_maintenance=active, end_time=end_time, end_epoch=go_time_epoch(end_time))


def parse_job(body, guid=None):
    """An indented {"<guid>": JobDetails} answer -> (guid, details); details is None for an unknown guid."""
    doc = parse_json(body, '/chefclient')
    if not isinstance(doc, dict) or len(doc) != 1:
        raise ChefWaiterError('unexpected run answer from the agent: %r' % (doc,), body=body)
    found, details = next(iter(doc.items()))
    if guid is not None and found != guid:
        raise ChefWaiterError('the agent answered about run %s instead of %s' % (found, guid), body=body)
    if details is not None:
        if not isinstance(details, dict) or not isinstance(details.get('status'), str):
            raise ChefWaiterError('unexpected details of run %s: %r' % (found, details), body=body)
    return found, details


def log_tail(text, lines):
    """The last `lines` lines of a run log (all of them for a negative number, none for 0)."""
    if lines == 0 or not text:
        return []
    all_lines = text.splitlines()
    return all_lines if lines < 0 else all_lines[-lines:]


class ChefWaiterClient(object):
    """Requests to one agent. Every method raises ChefWaiterError on failure.

    Each client has its own urllib opener (_url_opener: ansible's open_url installs one process-wide per request,
    which threads talking to agents with different TLS settings must not share).
    """

    def __init__(self, params):
        self.base = base_url(params)
        self.validate_certs = params.get('validate_certs', True)
        self.ca_path = params.get('ca_path')
        self.timeout = params.get('timeout') or 10
        self.http = UrlOpener(self.base, self.validate_certs, self.ca_path)

    def url(self, path):
        return self.base + path

    def request(self, path, method='GET', data=None, ok=(200,)):
        url = self.url(path)
        headers = {'User-Agent': 'ansible-httpget'}
        if data is not None:
            headers['Content-Type'] = 'text/plain'
        try:
            resp = self.http.open(method, url, data=data, headers=headers, timeout=self.timeout)
            status = resp.getcode()
            body = resp.read()
            date = header_epoch(resp.headers.get('Date'))
        except HTTPError as exc:
            status = exc.code
            try:
                body = exc.read()
            except (HTTPException, OSError):  # the error body is a bonus; the status is what counts
                body = b''
            date = header_epoch(exc.headers.get('Date') if exc.headers else None)
        except URLError as exc:
            raise ChefWaiterError('cannot reach the Chef Waiter agent at %s: %s' % (url, to_native(exc.reason)),
                                  url=url, transient=True)
        except (HTTPException, OSError, ValueError) as exc:
            # timeouts and TLS failures are OSErrors
            raise ChefWaiterError('request to the Chef Waiter agent at %s failed: %s' % (url, to_native(exc)),
                                  url=url, transient=not isinstance(exc, ValueError))
        body = to_text(body or b'', errors='surrogate_then_replace')
        if status not in ok:
            raise ChefWaiterError('the Chef Waiter agent answered %s %s with HTTP %s: %s'
                                  % (method, path, status, error_text(body) or '(empty body)'),
                                  status=status, body=body, url=url, transient=status >= 500)
        return Response(status, body, date=date, url=url)

    # Reads

    def healthcheck(self):
        return self.request('/healthcheck')

    def app_status(self):
        return parse_json(self.request('/status').body, '/status')

    def locked(self):
        return parse_lock(self.request('/chef/lock').body)

    def periodic_runs(self):
        return parse_enabled(self.request('/chef/enabled').body)

    def interval(self):
        return parse_interval(self.request('/chef/interval').body)

    def maintenance(self):
        resp = self.request('/chef/maintenance')
        state = parse_maintenance(resp.body)
        state['now'] = resp.date if resp.date is not None else int(time.time())
        return state

    def run_status(self, guid):
        resp = self.request('/chefclient/%s' % quote(guid, safe=''))
        return parse_job(resp.body, guid)[1], resp.date

    def run_log(self, guid):
        """The run's log text, or None when the agent has no log file for it (yet)."""
        try:
            return self.request('/cheflogs/%s' % quote(guid, safe='')).body
        except ChefWaiterError as exc:
            if exc.status == 404:
                return None
            raise

    # Writes

    def start_run(self, run_list=None, force=False):
        """Start (or join the queued) run: (guid, details, agent epoch). A refusal raises with status 403."""
        if run_list is None:
            resp = self.request('/chefclient')
        else:
            path = '/chefclient?force=true' if force else '/chefclient'
            resp = self.request(path, method='POST', data=run_list.encode('utf-8'))
        guid, details = parse_job(resp.body)
        return guid, details, resp.date

    def set_lock(self, locked):
        return parse_lock(self.request('/chef/lock/set' if locked else '/chef/lock/remove').body)

    def set_periodic_runs(self, enabled):
        return parse_enabled(self.request('/chef/on' if enabled else '/chef/off').body)

    def set_interval(self, minutes):
        # The agent answers 200 with an empty body; only the status says it worked.
        self.request('/chef/interval/%d' % minutes)

    def start_maintenance(self, minutes):
        return parse_json(self.request('/chef/maintenance/start/%d' % minutes).body, '/chef/maintenance/start')

    def end_maintenance(self):
        return parse_json(self.request('/chef/maintenance/end').body, '/chef/maintenance/end')


# One run, from the request that starts it (or its known guid) to its result

def check_wait_options(module, *extra):
    """Fail naming the first of wait_timeout, poll_interval and the extra options that is not a positive number."""
    for name in ('wait_timeout', 'poll_interval') + extra:
        if module.params[name] <= 0:
            module.fail_json(msg='%s must be a positive number%s, got %s'
                             % (name, '' if name in extra else ' of seconds', module.params[name]))


def run_list_problem(run_list):
    """Why a custom run list cannot be sent to an agent, or None."""
    if run_list is None:
        return None
    if not run_list.strip():
        return "run_list is empty; leave it out to run the node's own run list"
    size = len(run_list.encode('utf-8'))
    if size > MAX_RUN_LIST_BYTES:
        return 'run_list is %d bytes long; the agent accepts at most %d' % (size, MAX_RUN_LIST_BYTES)
    return None


def predict_refusal(client, run_list, force):
    """The agent's answer to the run request, predicted from its lock and whitelist; None when it would start."""
    if not (run_list is not None and force) and client.locked():
        return 'Chefwaiter is locked'
    if run_list is not None:
        status = client.app_status()
        allowed = status.get('whitelisted_payloads') or []
        # The agent enforces its whitelist only when it is switched on and not empty.
        if status.get('whitelisting_enabled') and allowed and run_list not in allowed:
            return "Whitelist does not contain '%s'" % run_list
    return None


def run_fields(guid, details):
    """The result keys of a run from the agent's JobDetails."""
    return dict(guid=guid, status=details['status'], exitcode=details.get('exitcode'),
                custom_run=details.get('custom_run'), custom_run_string=details.get('custom_run_string'),
                start_time=details.get('starttime'))


class RunWatch(object):
    """One run on one agent. start() or follow(), then poll() until it returns True.

    Afterwards `result` holds the module result of the run (changed, agent_url, guid, status, ...) and `msg` is None
    when the run completed, else why it did not: the same keys and messages for a single run and for a batch.
    A poll the agent does not answer (refused, reset, timed out, HTTP 5xx: an agent or host busy while chef-client
    loads) is tried again at the next poll until the run's deadline; only the deadline or a real answer (the run
    failed, the agent does not know it) ends the run without success. `result['poll_errors']` counts those polls.
    """

    def __init__(self, client, wait_timeout, log_lines, clock=time.monotonic):
        self.client = client
        self.wait_timeout = wait_timeout
        self.log_lines = log_lines
        self.clock = clock
        self.result = dict(changed=False, agent_url=client.base)
        self.msg = None
        self.done = False
        self.deadline = None

    def fail(self, msg, exc=None):
        """The run ends without a result: msg says why (exc: the failed request)."""
        if exc is not None:
            self.result.update(exc.details())
        self.msg = msg
        self.done = True

    def check(self, run_list, force):
        """Check mode: the agent answers and would start the run (changed), or the reason it would refuse it."""
        try:
            self.client.healthcheck()
            refusal = predict_refusal(self.client, run_list, force)
        except ChefWaiterError as exc:
            return self.fail(exc.msg, exc)
        if refusal:
            return self.fail('the Chef Waiter agent would refuse the run: %s' % refusal)
        self.result['changed'] = True
        self.done = True

    def start(self, run_list, force):
        """Ask for the run; False (and msg set) when the agent refused it or could not be asked."""
        try:
            guid, details, dummy = self.client.start_run(run_list, force)
        except ChefWaiterError as exc:
            if exc.status in (400, 403):
                self.fail('the Chef Waiter agent refused the run: %s' % error_text(exc.body), exc)
            else:
                self.fail(exc.msg, exc)
            return False
        if details is None:
            self.fail('the Chef Waiter agent accepted the run but reported no details for %s' % guid)
            return False
        self.result.update(run_fields(guid, details), changed=True)
        self.deadline = self.clock() + self.wait_timeout
        return True

    def follow(self, guid):
        """Wait for a run started elsewhere (its guid) instead of starting one."""
        self.result['guid'] = guid
        self.deadline = self.clock() + self.wait_timeout

    def poll(self):
        """One status request; at the end (finished, deadline passed, or an error) the result. True when done."""
        if self.done:
            return True
        guid = self.result['guid']
        try:
            details, seen_at = self.client.run_status(guid)
            if details is None:
                self.fail('the Chef Waiter agent no longer knows run %s' % guid)
                return True
            self.result.update(run_fields(guid, details))
            finished = details['status'] in FINAL_STATUSES
            if not finished and self.clock() < self.deadline:
                return False
            self.result['log_tail'] = log_tail(self.client.run_log(guid) or '', self.log_lines)
        except ChefWaiterError as exc:
            if exc.transient and self.clock() < self.deadline:
                self.result['poll_errors'] = self.result.get('poll_errors', 0) + 1
                return False
            if exc.transient and self.result.get('poll_errors'):
                self.fail('chef-client run %s: the Chef Waiter agent did not answer within %d seconds of its start '
                          '(%d polls unanswered); last error: %s'
                          % (guid, self.wait_timeout, self.result['poll_errors'] + 1, exc.msg), exc)
            else:
                self.fail(exc.msg, exc)
            return True
        self.done = True
        tail = '\n'.join(self.result['log_tail'])
        if not finished:
            self.msg = ('chef-client run %s did not finish within %d seconds (status %s); last lines of its log:\n%s'
                        % (guid, self.wait_timeout, details['status'], tail))
            return True
        end = seen_at if seen_at is not None else int(time.time())
        self.result['end_time'] = end
        if isinstance(self.result.get('start_time'), int):
            self.result['duration'] = max(0, end - self.result['start_time'])
        if details['status'] != 'complete':
            self.msg = ('chef-client run %s %s (exit code %s); last lines of its log:\n%s'
                        % (guid, details['status'], details.get('exitcode'), tail))
        return True

    def seconds_to_deadline(self):
        return self.deadline - self.clock()
