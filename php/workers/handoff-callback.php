<?php

declare(strict_types=1);

/*
 * Hand-off callback worker (either mode): one connection at a time. A
 * client that sends a line gets "hello <peer> #<id>\n" followed by its own
 * line back (an echo, up to 64 KiB); then the connection is closed and
 * reported. A line "quit" closes without echoing.
 */

require __DIR__ . '/../autoload.php';

use Coyote\Handoff\CallbackWorker;
use Coyote\Handoff\ConnectionMeta;

CallbackWorker::create()->run(static function ($stream, ConnectionMeta $meta): void {
    stream_set_timeout($stream, 10);
    $line = fgets($stream, 65536);
    if ($line === false || rtrim($line, "\r\n") === 'quit') {
        return;
    }
    fwrite($stream, "hello {$meta->peer} #{$meta->id}\n" . $line);
});
