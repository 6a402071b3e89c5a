export * from './python';
export * from './doctor';
export * from './process';
export * from './jsonlines';
export * from './guard';
export * from './cuda';
export * from './setupEnvironment';
export * from './download';
