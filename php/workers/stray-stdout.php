<?php

declare(strict_types=1);

// Stray-stdout: echoes. After answering "stray" it waits for a line on the
// fifo STRAY_FIFO, then writes to STDOUT outside any frame (output that
// bypasses the SDK, between two requests) and says so on STDERR.

require __DIR__ . '/../autoload.php';

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    $worker->respond(new Payload($p->body, $p->header));
    if ($p->body === 'stray') {
        $fifo = fopen((string) getenv('STRAY_FIFO'), 'r');
        fgets($fifo);
        fclose($fifo);
        fwrite(STDOUT, "Warning: stray output between requests\n");
        fflush(STDOUT);
        fwrite(STDERR, "stray written\n");
    }
}
