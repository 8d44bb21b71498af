<?php

declare(strict_types=1);

// Fork-child: at boot starts `sleep 60` as a child that inherits this
// worker's STDERR (its stdin and stdout go to /dev/null), like a
// background job forked by application code. Answers "child" with the
// child's pid; echoes otherwise.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$child = proc_open(
    ['sleep', '60'],
    [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => STDERR],
    $unused,
);
$childPid = is_resource($child) ? proc_get_status($child)['pid'] : 0;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->respond(new Payload($p->body === 'child' ? (string) $childPid : $p->body, $p->header));
}
