// Placeholder: the package is being written.
export {};
