"""The seed notebook's training loop, reimplemented plainly, one sample at a time, as it was.

Column vectors, weights shaped (fan_out, fan_in), sigmoid on every layer, squared error, and the
notebook's quirk kept: backprop adds the gradient to itself once, so with lr = 0.01 every update is
0.02 × ∂C/∂w. Used only by the benchmark, as the baseline our engine is measured against.
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class NotebookNetwork:
    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.weights.append(rng.uniform(-0.5, 0.5, (fan_out, fan_in)))
            self.biases.append(rng.uniform(-0.5, 0.5, (fan_out, 1)))

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y):
        grad_w = [np.zeros(w.shape) for w in self.weights]
        grad_b = [np.zeros(b.shape) for b in self.biases]
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = 2 * (activations[-1] - y) * sigmoid_prime(zs[-1])
        grad_b[-1] = delta
        grad_w[-1] = np.dot(delta, activations[-2].T)
        for l in range(2, len(self.sizes)):
            delta = np.dot(self.weights[-l + 1].T, delta) * sigmoid_prime(zs[-l])
            grad_b[-l] = delta
            grad_w[-l] = np.dot(delta, activations[-l - 1].T)
        for l in range(len(grad_w)):        # the notebook's quirk: the gradient added to itself
            grad_w[l] += grad_w[l]
            grad_b[l] += grad_b[l]
        return grad_w, grad_b

    def train_epoch(self, images, labels, lr=0.01):
        for image, label in zip(images, labels):
            x = image.reshape(784, 1) / 255
            y = np.zeros((10, 1))
            y[label] = 1
            grad_w, grad_b = self.backprop(x, y)
            self.weights = [w - lr * gw for w, gw in zip(self.weights, grad_w)]
            self.biases = [b - lr * gb for b, gb in zip(self.biases, grad_b)]

    def accuracy(self, images, labels):
        correct = 0
        for image, label in zip(images, labels):
            if np.argmax(self.feedforward(image.reshape(784, 1) / 255)) == label:
                correct += 1
        return 100 * correct / len(labels)
