<?php

declare(strict_types=1);

/*
 * Jobs consumer for the tests: the job's name picks the reply, so a test
 * can reach every answer the protocol has.
 *
 *   ack               ack()                                    (any other name too)
 *   complete          complete()  (deprecated ack)
 *   nack              nack("nack")                              dropped by the server
 *   nack-redeliver    nack("nack", redelivery: true)            while attempt <= times, then ack
 *   requeue           requeue("requeue") with header attempts=<attempt>, while attempt <= times, then ack
 *   fail              fail("fail")                              acknowledged by the server
 *   fail-requeue      fail("fail", requeue: true) with header attempts=<attempt>, while attempt <= times, then ack
 *   error             $worker->error("error requested")         while attempt <= times, then ack
 *   crash             exit(1) mid-task, no answer               while attempt <= times, then ack
 *   garbage           a reply whose body is not JSON            while attempt <= times, then ack
 *   slow              sleep <payload> milliseconds, then ack
 *
 * Headers steering the replies:
 *   times   how many attempts get the action above (default 1)
 *   delay   seconds for withDelay() on nack / requeue / fail replies
 *
 * attempt: 1 + the number of lines JOBS_LOG already holds for this task id
 * (every delivery is logged, whatever the worker that got it).
 *
 * Every task handled is appended to the file named by env JOBS_LOG (if
 * set) as one JSON line, before the reply is sent (headers as received):
 *   {"id","name","pipeline","queue","driver","payload","headers","pid",
 *    "attempt","action","time"}
 * action is what was done ("ack", "nack", "nack-redeliver", "requeue",
 * "complete", "fail", "fail-requeue", "error", "crash", "garbage", "slow");
 * time is microtime(true) when the task was received.
 */

require __DIR__ . '/../autoload.php';

use Coyote\Jobs\Consumer;
use Coyote\Jobs\MalformedTaskException;
use Coyote\Jobs\ReceivedTask;
use Coyote\Worker\Payload;

const ACTIONS = ['complete', 'nack', 'nack-redeliver', 'requeue', 'fail', 'fail-requeue', 'error', 'crash', 'garbage', 'slow'];
/** Done while attempt <= times; ack afterwards. */
const REPEATED = ['nack-redeliver', 'requeue', 'fail-requeue', 'error', 'crash', 'garbage'];

$log = getenv('JOBS_LOG') ?: null;

/** How many lines the log holds for `$id`. */
function seen(?string $log, string $id): int
{
    if ($log === null || !is_file($log)) {
        return 0;
    }
    $file = fopen($log, 'r');
    if ($file === false) {
        return 0;
    }
    flock($file, LOCK_SH);
    $count = 0;
    while (($line = fgets($file)) !== false) {
        $entry = json_decode($line, true);
        if (is_array($entry) && ($entry['id'] ?? null) === $id) {
            $count++;
        }
    }
    flock($file, LOCK_UN);
    fclose($file);
    return $count;
}

function record(?string $log, ReceivedTask $task, int $attempt, string $action, float $time): void
{
    if ($log === null) {
        return;
    }
    $line = json_encode([
        'id' => $task->getId(),
        'name' => $task->getName(),
        'pipeline' => $task->getPipeline(),
        'queue' => $task->getQueue(),
        'driver' => $task->getDriver(),
        'payload' => $task->getPayload(),
        'headers' => (object) $task->getHeaders(),
        'pid' => getmypid(),
        'attempt' => $attempt,
        'action' => $action,
        'time' => $time,
    ], JSON_THROW_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES);
    file_put_contents($log, $line . "\n", FILE_APPEND | LOCK_EX);
}

$consumer = Consumer::create();
while (true) {
    try {
        $task = $consumer->waitTask();
    } catch (MalformedTaskException $e) {
        fwrite(STDERR, 'jobs-consumer: ' . $e->getMessage() . "\n"); // already answered with an error
        continue;
    }
    if ($task === null) {
        break;
    }
    $time = microtime(true);
    $attempt = seen($log, $task->getId()) + 1;
    $times = (int) ($task->getHeaderLine('times') ?: 1);
    if ($task->hasHeader('delay')) {
        $task = $task->withDelay((int) $task->getHeaderLine('delay'));
    }
    $action = $task->getName();
    if (!in_array($action, ACTIONS, true) || (in_array($action, REPEATED, true) && $attempt > $times)) {
        $action = 'ack';
    }
    record($log, $task, $attempt, $action, $time); // the headers as received
    if (in_array($action, ['requeue', 'fail-requeue'], true)) {
        $task = $task->withHeader('attempts', (string) $attempt);
    }

    match ($action) {
        'ack' => $task->ack(),
        'complete' => $task->complete(),
        'nack' => $task->nack('nack'),
        'nack-redeliver' => $task->nack('nack', true),
        'requeue' => $task->requeue('requeue'),
        'fail' => $task->fail('fail'),
        'fail-requeue' => $task->fail('fail', true),
        'error' => $consumer->getWorker()->error('error requested'),
        'crash' => exit(1),
        'garbage' => $consumer->getWorker()->respond(new Payload('this is not JSON')),
        'slow' => (static function (ReceivedTask $task): void {
            usleep(max(0, (int) $task->getPayload()) * 1000);
            $task->ack();
        })($task),
    };
}
