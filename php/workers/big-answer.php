<?php

declare(strict_types=1);

// Big-answer: answers a request whose body is N with a body of N MiB of
// "z" (built once per size), so the time is spent on the answer's way back.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$bodies = [];
$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $mib = (int) $p->body;
    $bodies[$mib] ??= str_repeat('z', $mib * 1024 * 1024);
    $worker->respond(new Payload($bodies[$mib]));
}
