<?php

declare(strict_types=1);

// A jobs worker for the Rust end-to-end tests, written against the raw
// protocol (no jobs SDK): the job's *name* says what to answer.
//
//   ack | complete | empty | unknown | garbage   type 2 | type 0 | empty body | type 9 | not JSON
//   nack                nack, no redelivery
//   nack-redeliver:N    nack with redelivery until delivered N times before, then ack
//   requeue:N           requeue with header attempt+1 until it reaches N, then ack
//   fail                fail() without requeue (type 1)
//   fail-requeue:N      fail() with requeue and header attempt+1 until N, then ack
//   delay:S             requeue once with delay_seconds S (header delayed=1), then ack
//   error               worker error frame
//   crash               exit(1) the first time (marker file), ack on redelivery
//   crash-always        exit(1) every time
//   slow:MS             sleep MS milliseconds, then ack
//
// Every task is appended as one JSON line to $JOBS_LOG (id, name, pipeline,
// payload, headers, pid, action, t: microtime) before the answer is sent.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$log = getenv('JOBS_LOG') ?: sys_get_temp_dir() . '/coyote-jobs.log';
$worker = Worker::create();

$reply = static function (int $type, array $data = []) use ($worker): void {
    $worker->respond(new Payload(json_encode(['type' => $type, 'data' => $data], JSON_THROW_ON_ERROR)));
};

while ($p = $worker->waitPayload()) {
    $ctx = json_decode($p->header, true, 512, JSON_THROW_ON_ERROR);
    $name = (string) $ctx['job'];
    $headers = is_array($ctx['headers'] ?? null) ? $ctx['headers'] : [];
    $attempt = (int) ($headers['attempt'][0] ?? 0);
    [$verb, $arg] = array_pad(explode(':', $name, 2), 2, '');
    $n = (int) $arg;
    $action = $verb;
    $safeId = preg_replace('/[^A-Za-z0-9_-]/', '_', (string) $ctx['id']);
    // Deliveries of this id seen by any worker so far (nack redelivery
    // carries no header, so the count lives in a file).
    $countFile = $log . '.seen-' . $safeId;
    $seen = (int) @file_get_contents($countFile);
    file_put_contents($countFile, (string) ($seen + 1));
    if ($verb === 'nack-redeliver' && $seen >= $n) {
        $action = 'ack';
    }
    if (in_array($verb, ['requeue', 'fail-requeue'], true) && $attempt >= $n) {
        $action = 'ack';
    }
    if ($verb === 'delay' && isset($headers['delayed'])) {
        $action = 'ack';
    }
    $marker = $log . '.crash-' . $safeId;
    if ($verb === 'crash' && file_exists($marker)) {
        $action = 'ack';
    }
    file_put_contents($log, json_encode([
        'id' => $ctx['id'], 'name' => $name, 'pipeline' => $ctx['pipeline'],
        'driver' => $ctx['driver'] ?? null, 'queue' => $ctx['queue'] ?? null,
        'payload' => mb_check_encoding($p->body, 'UTF-8') ? $p->body : 'base64:' . base64_encode($p->body),
        'headers' => $headers, 'pid' => getmypid(),
        'action' => $action, 't' => microtime(true),
    ], JSON_THROW_ON_ERROR) . "\n", FILE_APPEND | LOCK_EX);

    $next = $headers;
    $next['attempt'] = [(string) ($attempt + 1)];
    switch ($action) {
        case 'ack': $reply(2); break;
        case 'complete': $reply(0); break;
        case 'empty': $worker->respond(new Payload('')); break;
        case 'unknown': $reply(9); break;
        case 'garbage': $worker->respond(new Payload('this is not json')); break;
        case 'nack': $reply(3, ['message' => 'no', 'requeue' => false, 'delay_seconds' => 0]); break;
        case 'nack-redeliver': $reply(3, ['message' => 'again', 'requeue' => true, 'delay_seconds' => 0]); break;
        case 'requeue': $reply(4, ['message' => 'again', 'delay_seconds' => 0, 'headers' => $next]); break;
        case 'fail': $reply(1, ['message' => 'failed', 'requeue' => false, 'delay_seconds' => 0]); break;
        case 'fail-requeue': $reply(1, ['message' => 'failed', 'requeue' => true, 'delay_seconds' => 0, 'headers' => $next]); break;
        case 'delay':
            $reply(4, ['message' => 'later', 'delay_seconds' => $n, 'headers' => $headers + ['delayed' => ['1']]]);
            break;
        case 'error': $worker->error('boom from php'); break;
        case 'crash': touch($marker); exit(1);
        case 'crash-always': exit(1);
        case 'slow': usleep($n * 1000); $reply(2); break;
        default: $reply(2);
    }
}
