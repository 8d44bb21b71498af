<?php

declare(strict_types=1);

/*
 * HandoffEmfileTest's child: an Acceptor in reuseport mode on the listening
 * socket inherited as fd 3, run as HttpServer runs it (select on
 * readStreams() until wakeAt(), then poll()), first with every descriptor
 * used up for WINDOW seconds, then with them freed. Prints one JSON line:
 * {"turns": loop turns while exhausted, "accepted": taken after freeing,
 *  "paused": whether the listener reported a pause}.
 */

require __DIR__ . '/../../autoload.php';

use Coyote\Handoff\Acceptor;
use Coyote\Handoff\ControlChannel;
use Coyote\Handoff\Listener;
use Coyote\Handoff\Mode;

const WINDOW = 0.6;

$listener = Listener::fromFd(3);
$pair = [];
socket_create_pair(AF_UNIX, SOCK_SEQPACKET, 0, $pair);
$acceptor = new Acceptor(new ControlChannel($pair[0], null, Mode::Reuseport), Mode::Reuseport, $listener);

/** One loop turn as HttpServer::run makes it; returns what was accepted. */
$turn = static function (float $until) use ($acceptor): array {
    $read = $acceptor->readStreams();
    $write = [];
    $except = null;
    $wake = $acceptor->wakeAt();
    $wake = $wake === null ? $until : min($wake, $until);
    $timeout = max(0.0, $wake - microtime(true));
    @stream_select($read, $write, $except, (int) $timeout, (int) (fmod($timeout, 1.0) * 1e6) + 1000);
    return $acceptor->poll($read);
};

$hard = posix_getrlimit()['hard openfiles'];
$hard = is_numeric($hard) ? (int) $hard : POSIX_RLIMIT_INFINITY;
// Descriptors inherited from the test runner may sit anywhere: the limit is
// set just above the highest open one, so that the hoard below is what frees
// room (accept() takes the lowest free number, which must be under the limit).
$open = array_map('intval', array_diff(scandir('/proc/self/fd') ?: [], ['.', '..']));
if (!posix_setrlimit(POSIX_RLIMIT_NOFILE, max($open) + 16, $hard)) {
    fwrite(STDERR, "cannot lower the descriptor limit\n");
    exit(2);
}
$hoard = [];
while (($f = @fopen('/dev/null', 'r')) !== false) {
    $hoard[] = $f;
}
$turns = 0;
$paused = false;
$end = microtime(true) + WINDOW;
while (microtime(true) < $end) {
    if ($turn($end) !== []) {
        fwrite(STDOUT, json_encode(['error' => 'accepted without a free descriptor']) . "\n");
        exit(1);
    }
    $paused = $paused || $listener->pausedUntil() !== null;
    $turns++;
}
$hoard = [];
gc_collect_cycles();
$accepted = 0;
$end = microtime(true) + 3.0;
while ($accepted === 0 && microtime(true) < $end) {
    $accepted += count($turn($end));
}
fwrite(STDOUT, json_encode(['turns' => $turns, 'accepted' => $accepted, 'paused' => $paused]) . "\n");
