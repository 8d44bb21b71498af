<?php

declare(strict_types=1);

// Stop: on "stop" asks to be replaced (once, when STOP_ONCE_MARKER names
// a file: the first worker creates it); otherwise answers its pid.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $marker = getenv('STOP_ONCE_MARKER');
    if ($p->body === 'stop' && ($marker === false || !file_exists($marker))) {
        if ($marker !== false) {
            touch($marker);
        }
        $worker->stop();
        continue;
    }
    $worker->respond(new Payload((string) getmypid()));
}
