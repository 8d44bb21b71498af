<?php

declare(strict_types=1);

// TCP test worker (tests/tcp.rs): greets with the connection's uuid on
// CONNECTED, echoes DATA; `quit` is answered with WRITECLOSE, `close` with
// CLOSE, `silent` with CONTINUE, `crash` kills the worker. CLOSE events
// are logged to STDERR (the server logs them) as `closed <uuid>`.

require __DIR__ . '/../../../../php/autoload.php';

use Coyote\Tcp\TcpEvent;
use Coyote\Tcp\TcpResponse;
use Coyote\Tcp\TcpWorker;
use Coyote\Worker\Worker;

$tcp = new TcpWorker(Worker::create());
while ($request = $tcp->waitRequest()) {
    switch ($request->event) {
        case TcpEvent::Connected:
            $tcp->respond("hello {$request->connectionUuid} on {$request->server} mode " . getenv('RR_MODE') . "\r\n");
            break;
        case TcpEvent::Data:
            $line = rtrim($request->body, "\r\n");
            match ($line) {
                'quit' => $tcp->respond("bye\r\n", TcpResponse::RespondClose),
                'close' => $tcp->close(),
                'silent' => $tcp->read(),
                'crash' => exit(1),
                default => $tcp->respond($request->body),
            };
            break;
        case TcpEvent::Close:
            fwrite(STDERR, "closed {$request->connectionUuid}\n");
            $tcp->read();
            break;
        default:
            $tcp->close();
    }
}
