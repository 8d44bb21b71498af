<?php

declare(strict_types=1);

// Crash: exits mid-request when the body is "crash"; echoes otherwise.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    if ($p->body === 'crash') {
        exit(1);
    }
    $worker->respond(new Payload($p->body, $p->header));
}
