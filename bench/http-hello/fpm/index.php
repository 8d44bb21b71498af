<?php

declare(strict_types=1);

// php-fpm side of the HTTP benchmark: the same two routes as worker.php.

if (str_starts_with($_SERVER['REQUEST_URI'] ?? '/', '/echo')) {
    header('Content-Type: application/json');
    echo json_encode(['method' => $_SERVER['REQUEST_METHOD'], 'query' => $_GET, 'body' => file_get_contents('php://input')]);
} else {
    header('Content-Type: text/plain');
    echo 'Hello, World!';
}
