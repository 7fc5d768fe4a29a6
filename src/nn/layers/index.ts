// Filled by the layers work item.
export {};
