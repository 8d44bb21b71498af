<?php
// A minimal handoff worker (docs/handoff.md) for Coyote's end-to-end
// tests: speaks the control protocol on fd 3 by hand (no SDK) and answers
// every HTTP request with "pid=<pid>". Paths:
//   /hold      keep the connection open, unanswered, until the client closes
//   /noreport  answer, then close without shutdown and without reporting
//   /exit      exit(1) at once, holding whatever it holds
//   /garbage   send a malformed control message (Coyote kills the worker)
//   /huge      send a 200 KiB control message (Coyote kills the worker)
// HANDOFF_IGNORE_STOP=1: ignore the stop frame (Coyote then SIGTERMs).
// Modes: RR_MODE=fd_passing (connections arrive as SCM_RIGHTS) or
// reuseport (accept on fd 4).

const CONTROL = 0x01;
const CODEC_JSON = 0x08;

function frame(int $flags, string $payload): string
{
    $head = chr(0x13) . chr($flags) . pack('V', strlen($payload));
    return $head . pack('V', crc32($head)) . "\0\0" . $payload;
}

function send(Socket $ctl, int $flags, array $payload): void
{
    socket_sendmsg($ctl, ['iov' => [frame($flags, json_encode($payload))]], 0);
}

/** @return array{0:int,1:?array,2:?Socket} flags, payload, attached socket */
function receive(Socket $ctl): array
{
    $msg = ['name' => [], 'buffer_size' => 65536,
        'controllen' => socket_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 1)];
    if (socket_recvmsg($ctl, $msg, 0) === false || !isset($msg['iov'][0]) || strlen($msg['iov'][0]) < 12) {
        exit(0); // Coyote went away
    }
    $data = $msg['iov'][0];
    $fd = $msg['control'][0]['data'][0] ?? null;
    return [ord($data[1]), json_decode(substr($data, 12), true), $fd];
}

$mode = getenv('RR_MODE');
$ctl = socket_import_stream(fopen('php://fd/' . getenv('COYOTE_HANDOFF_FD'), 'r+'));
$listen = null;
if ($mode === 'reuseport') {
    $listen = socket_import_stream(fopen('php://fd/' . getenv('COYOTE_LISTEN_FD'), 'r+'));
}
[, $hello] = receive($ctl);
send($ctl, CONTROL, ['pid' => getmypid()]);
fwrite(STDERR, "handoff worker " . getmypid() . " ready ($mode, coyote " . ($hello['pid'] ?? '?') . ")\n");

$conns = [];   // key => ['sock' => Socket, 'id' => ?int, 'buf' => string, 'hold' => bool]
$accepted = 0;
$lastReport = null;
$stopping = false;
$next = 0;

function finish(array &$conns, int $key, bool $report, array &$closed): void
{
    $c = $conns[$key];
    if ($report) {
        @socket_shutdown($c['sock'], 2);
    }
    socket_close($c['sock']);
    unset($conns[$key]);
    if ($report && $c['id'] !== null) {
        $closed[] = $c['id'];
    }
}

while (true) {
    $read = [$ctl];
    if ($listen !== null && !$stopping) {
        $read[] = $listen;
    }
    foreach ($conns as $c) {
        $read[] = $c['sock'];
    }
    $w = $e = null;
    if (socket_select($read, $w, $e, null) === false) {
        continue;
    }
    $closed = [];
    foreach ($read as $sock) {
        if ($sock === $ctl) {
            [$flags, $payload, $fd] = receive($ctl);
            if ($flags & CONTROL) {
                if (!empty($payload['stop']) && getenv('HANDOFF_IGNORE_STOP') !== '1') {
                    $stopping = true;
                }
            } elseif ($fd instanceof Socket) {
                $conns[$next++] = ['sock' => $fd, 'id' => $payload['id'], 'buf' => '', 'hold' => false];
                $accepted++;
            }
            continue;
        }
        if ($sock === $listen) {
            $client = @socket_accept($listen);
            if ($client !== false) {
                $conns[$next++] = ['sock' => $client, 'id' => null, 'buf' => '', 'hold' => false];
                $accepted++;
            }
            continue;
        }
        $key = array_search($sock, array_column($conns, 'sock'), true);
        $key = array_keys($conns)[$key];
        $chunk = @socket_read($sock, 8192);
        if ($chunk === false || $chunk === '') {
            finish($conns, $key, true, $closed);
            continue;
        }
        if ($conns[$key]['hold']) {
            continue;
        }
        $conns[$key]['buf'] .= $chunk;
        if (!str_contains($conns[$key]['buf'], "\r\n\r\n")) {
            continue;
        }
        $path = explode(' ', $conns[$key]['buf'])[1] ?? '/';
        if ($path === '/exit') {
            exit(1);
        }
        if ($path === '/garbage') {
            socket_sendmsg($ctl, ['iov' => ['this is not a frame']], 0);
        }
        if ($path === '/huge') {
            socket_sendmsg($ctl, ['iov' => [frame(CODEC_JSON, str_repeat(' ', 200 * 1024) . '{}')]], 0);
        }
        if ($path === '/hold') {
            $conns[$key]['hold'] = true;
            continue;
        }
        $body = 'pid=' . getmypid();
        socket_write($sock, "HTTP/1.1 200 OK\r\nContent-Length: " . strlen($body) . "\r\nConnection: close\r\n\r\n" . $body);
        finish($conns, $key, $path !== '/noreport', $closed);
    }
    if ($stopping) {
        // Stop accepting; held (idle) connections close now, a connection
        // whose request is still to come is served first.
        if ($listen !== null) {
            socket_close($listen);
            $listen = null;
        }
        foreach (array_keys($conns) as $key) {
            if ($conns[$key]['hold']) {
                finish($conns, $key, true, $closed);
            }
        }
    }
    if ($closed) {
        send($ctl, CODEC_JSON, ['closed' => $closed]);
    }
    $figures = ['open' => count($conns), 'accepted' => $accepted];
    if ($mode === 'reuseport' && $figures !== $lastReport) {
        send($ctl, CODEC_JSON, $figures);
        $lastReport = $figures;
    }
    if ($stopping && !$conns) {
        exit(0);
    }
}
