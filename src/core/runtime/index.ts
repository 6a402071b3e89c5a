export * from './python';
export * from './doctor';
export * from './process';
export * from './jsonlines';
export * from './guard';
export * from './describe';
